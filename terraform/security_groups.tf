################################################################################
# ALB: HTTP (and HTTPS when a certificate is set) from the allowed CIDRs; out only to the
# tasks' port.
################################################################################

resource "aws_security_group" "alb" {
  name_prefix = "${var.name}-alb-"
  description = "Public ALB of ${var.name}: HTTP/HTTPS in from the allowed CIDRs, service port out to the tasks"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-alb" }

  # name_prefix + create_before_destroy: a changed description replaces the group without
  # first detaching it from the ALB, tasks or endpoints.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "alb" {
  # checkov:skip=CKV_AWS_260:A public API behind an ALB must accept HTTP from its clients (it redirects to HTTPS when certificate_arn is set); allowed_ingress_cidrs narrows the sources.
  for_each = {
    for pair in setproduct(local.https_enabled ? [80, 443] : [80], var.allowed_ingress_cidrs) :
    "${pair[0]}-${pair[1]}" => { port = pair[0], cidr = pair[1] }
  }

  security_group_id = aws_security_group.alb.id
  description       = "${each.value.port == 443 ? "HTTPS" : "HTTP"} from ${each.value.cidr}"
  ip_protocol       = "tcp"
  from_port         = each.value.port
  to_port           = each.value.port
  cidr_ipv4         = each.value.cidr

  lifecycle {
    # Anyone on the internet could run the models, and nothing would tell one caller from
    # another or slow one down: refused unless the operator says in so many words it is wanted.
    precondition {
      condition     = !local.open_to_world || local.api_keys_enabled || local.waf_enabled || var.allow_anonymous_api
      error_message = "allowed_ingress_cidrs includes 0.0.0.0/0 with no API keys and no WAF: anyone on the internet could call the API anonymously, as often as they like. Set api_keys_secret_arn, waf_rate_limit (or waf_web_acl_arn), narrow allowed_ingress_cidrs, or set allow_anonymous_api = true to accept it."
    }
  }
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Requests and health checks to the service port of the tasks"
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
  referenced_security_group_id = aws_security_group.tasks.id
}

################################################################################
# Tasks: the service port from the ALB only; HTTPS out to the endpoints, to S3 through the
# gateway endpoint, and to the internet only when a NAT gateway exists.
################################################################################

resource "aws_security_group" "tasks" {
  name_prefix = "${var.name}-tasks-"
  description = "Fargate tasks of ${var.name}: service port from the ALB only, HTTPS out to AWS APIs"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-tasks" }

  # name_prefix + create_before_destroy: a changed description replaces the group without
  # first detaching it from the ALB, tasks or endpoints.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "Service port from the ALB"
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_endpoints" {
  count = var.enable_vpc_endpoints ? 1 : 0

  security_group_id            = aws_security_group.tasks.id
  description                  = "HTTPS to the interface endpoints (ECR, CloudWatch Logs, Secrets Manager)"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.endpoints[0].id
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_s3" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to S3 through the gateway endpoint (ECR image layers)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  prefix_list_id    = aws_vpc_endpoint.s3.prefix_list_id
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_internet" {
  count = var.enable_nat_gateway ? 1 : 0

  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to the internet through the NAT gateway"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

################################################################################
# Interface endpoints: HTTPS from the tasks only.
################################################################################

resource "aws_security_group" "endpoints" {
  count = var.enable_vpc_endpoints ? 1 : 0

  name_prefix = "${var.name}-endpoints-"
  description = "VPC interface endpoints of ${var.name}: HTTPS from the tasks only"
  vpc_id      = aws_vpc.this.id

  tags = { Name = "${var.name}-endpoints" }

  # name_prefix + create_before_destroy: a changed description replaces the group without
  # first detaching it from the ALB, tasks or endpoints.
  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "endpoints_from_tasks" {
  count = var.enable_vpc_endpoints ? 1 : 0

  security_group_id            = aws_security_group.endpoints[0].id
  description                  = "HTTPS from the Fargate tasks"
  ip_protocol                  = "tcp"
  from_port                    = 443
  to_port                      = 443
  referenced_security_group_id = aws_security_group.tasks.id
}
