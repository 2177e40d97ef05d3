output "api_url" {
  description = "Base URL of the service (HTTPS when a certificate is set). Point a DNS name at alb_dns_name to match the certificate."
  value       = local.https_enabled ? "https://${aws_lb.this.dns_name}" : "http://${aws_lb.this.dns_name}"
}

output "alb_dns_name" {
  description = "DNS name of the ALB (target of a CNAME or alias record)."
  value       = aws_lb.this.dns_name
}

output "alb_zone_id" {
  description = "Route 53 zone id of the ALB, for an alias record."
  value       = aws_lb.this.zone_id
}

output "ecr_repository_url" {
  description = "URL of the ECR repository to push the bento image to."
  value       = aws_ecr_repository.this.repository_url
}

output "ecr_repository_name" {
  description = "Name of the ECR repository."
  value       = aws_ecr_repository.this.name
}

output "image" {
  description = "Full image reference the task definition runs."
  value       = local.image
}

output "image_tag" {
  description = "Image tag (bento version) the task definition runs."
  value       = var.image_tag
}

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "service_name" {
  description = "Name of the ECS service."
  value       = local.service.name
}

output "task_definition_arn" {
  description = "ARN of the task definition revision the service runs."
  value       = aws_ecs_task_definition.this.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the service containers."
  value       = aws_cloudwatch_log_group.service.name
}

output "region" {
  description = "Region the stack runs in."
  value       = local.region
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = aws_vpc.this.id
}

output "private_subnet_ids" {
  description = "IDs of the private subnets the tasks run in."
  value       = aws_subnet.private[*].id
}

output "task_security_group_id" {
  description = "Security group of the tasks."
  value       = aws_security_group.tasks.id
}

output "target_group_arn" {
  description = "ARN of the ALB target group the service registers its tasks in."
  value       = aws_lb_target_group.this.arn
}

output "container_command" {
  description = "Arguments the task passes to the image's entrypoint (bentoml serve options: the keep-alive timeout)."
  value       = local.container_command
}

output "deploy_targets" {
  description = "What scripts/deploy/deploy.py targets: the resources the first push creates alone (the service needs an image first), the resources whose deletion guards destroy lifts first, and the variables that lift them. deploy.py reads this block from this file (dry runs and the first push have no state to ask), so keep its value a literal map of lists of strings."
  value = {
    first_push = ["aws_ecr_repository.this", "aws_ecr_lifecycle_policy.this"]
    guarded    = ["aws_lb.this", "aws_ecr_repository.this"]
    guards_off = ["alb_deletion_protection=false", "ecr_force_delete=true"]
  }
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard: load balancer, tasks and, with emf_metrics, the service's own metrics."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "dashboard_url" {
  description = "The dashboard in the CloudWatch console."
  value       = "https://${lookup(local.console_hosts, local.partition, "console.aws.amazon.com")}/cloudwatch/home?region=${local.region}#dashboards/dashboard/${aws_cloudwatch_dashboard.this.dashboard_name}"
}
