output "api_url" {
  description = "Base URL of the service; point a DNS name that matches the certificate at alb_dns_name."
  value       = module.pls.api_url
}

output "alb_dns_name" {
  description = "DNS name of the ALB (target of a CNAME or alias record)."
  value       = module.pls.alb_dns_name
}

output "alb_zone_id" {
  description = "Route 53 zone id of the ALB, for an alias record."
  value       = module.pls.alb_zone_id
}

output "ecr_repository_url" {
  description = "ECR repository to push the service image to."
  value       = module.pls.ecr_repository_url
}

output "image" {
  description = "Full image reference the task definition runs."
  value       = module.pls.image
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = module.pls.cluster_name
}

output "service_name" {
  description = "Name of the ECS service."
  value       = module.pls.service_name
}

output "log_group_name" {
  description = "CloudWatch log group of the service containers."
  value       = module.pls.log_group_name
}

output "dashboard_url" {
  description = "The CloudWatch dashboard of the service."
  value       = module.pls.dashboard_url
}
