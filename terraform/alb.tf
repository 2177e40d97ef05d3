################################################################################
# Application Load Balancer in the public subnets
################################################################################

resource "aws_lb" "this" {
  # checkov:skip=CKV_AWS_91:Access logs need an S3 bucket with an ELB delivery policy that this module does not own; set alb_access_logs_bucket to turn them on.
  # checkov:skip=CKV2_AWS_28:A WAF web ACL is an account-level choice with its own cost; set waf_web_acl_arn to associate one.
  # checkov:skip=CKV2_AWS_76:The module creates no WAF web ACL (waf_web_acl_arn attaches an existing one), so it has no managed rule groups, Log4j or other, to configure.
  name               = var.name
  load_balancer_type = "application"
  internal           = false
  security_groups    = [aws_security_group.alb.id]
  subnets            = aws_subnet.public[*].id

  # Longer than the service's request timeout: the ALB must not close a connection on which
  # a slow generation is still running.
  idle_timeout               = var.alb_idle_timeout
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection

  dynamic "access_logs" {
    for_each = var.alb_access_logs_bucket == null ? [] : [var.alb_access_logs_bucket]

    content {
      bucket  = access_logs.value
      prefix  = var.alb_access_logs_prefix
      enabled = true
    }
  }

  lifecycle {
    precondition {
      condition     = var.alb_idle_timeout > local.request_timeout_s
      error_message = "alb_idle_timeout must be greater than PLS_REQUEST_TIMEOUT_S in service_environment."
    }
  }
}

resource "aws_wafv2_web_acl_association" "this" {
  count = var.waf_web_acl_arn == null ? 0 : 1

  resource_arn = aws_lb.this.arn
  web_acl_arn  = var.waf_web_acl_arn
}

resource "aws_lb_target_group" "this" {
  # checkov:skip=CKV_AWS_378:TLS ends at the ALB; the hop to the task stays inside the VPC, in private subnets that only the ALB's security group may reach on this port.
  # A generated name: a replacement target group is created (create_before_destroy) while
  # the listener still uses the old one, and two target groups cannot share a name.
  name_prefix = substr(var.name, 0, 6)
  target_type = "ip" # awsvpc tasks register by IP
  port        = local.container_port
  protocol    = "HTTP"
  vpc_id      = aws_vpc.this.id

  # Generations take seconds: send each request to the task with the fewest in flight.
  load_balancing_algorithm_type = "least_outstanding_requests"
  deregistration_delay          = var.deregistration_delay

  health_check {
    enabled             = true
    path                = local.health_check_path
    port                = "traffic-port"
    protocol            = "HTTP"
    matcher             = "200"
    interval            = local.health_check_interval
    timeout             = 5
    healthy_threshold   = local.health_check_threshold
    unhealthy_threshold = 3
  }

  lifecycle {
    # The listener forwards to this group: it can only be deleted once the listener points
    # at its replacement.
    create_before_destroy = true

    precondition {
      condition     = var.deregistration_delay > local.request_timeout_s
      error_message = "deregistration_delay must be greater than PLS_REQUEST_TIMEOUT_S so in-flight requests finish on a stopping task."
    }
  }
}

################################################################################
# Listeners: HTTP forwards, or redirects to HTTPS once a certificate is given.
################################################################################

resource "aws_lb_listener" "http" {
  # checkov:skip=CKV_AWS_2:Port 80 redirects to HTTPS whenever certificate_arn is set; plain HTTP to the world is refused unless allow_plain_http says it is wanted (see the precondition).
  load_balancer_arn = aws_lb.this.arn
  port              = 80
  protocol          = "HTTP"

  lifecycle {
    # Requests carry medical text: open to the internet means HTTPS, unless the operator
    # says in so many words that plain HTTP is fine (a trial with made-up text).
    precondition {
      condition     = local.https_enabled || !local.open_to_world || var.allow_plain_http
      error_message = "allowed_ingress_cidrs includes 0.0.0.0/0 but no certificate_arn is set: requests (medical text) would cross the internet unencrypted. Set certificate_arn, narrow allowed_ingress_cidrs, or set allow_plain_http = true to accept it."
    }
  }

  default_action {
    type             = local.https_enabled ? "redirect" : "forward"
    target_group_arn = local.https_enabled ? null : aws_lb_target_group.this.arn

    dynamic "redirect" {
      for_each = local.https_enabled ? [1] : []

      content {
        port        = "443"
        protocol    = "HTTPS"
        status_code = "HTTP_301"
      }
    }
  }
}

# Writes to port 80 are refused with a JSON body that says to use HTTPS, not redirected: many
# clients follow a 301 as a GET and then get a 405 or a 401 that hides the real mistake, and
# the body (medical text) has already crossed the network in the clear.
resource "aws_lb_listener_rule" "plain_http_writes" {
  count = local.https_enabled ? 1 : 0

  listener_arn = aws_lb_listener.http.arn
  priority     = 1

  action {
    type = "fixed-response"

    fixed_response {
      content_type = "application/json"
      status_code  = "400"
      message_body = jsonencode({ error = local.plain_http_write_error })
    }
  }

  condition {
    http_request_method {
      values = ["POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    }
  }
}

locals {
  plain_http_write_error = "This API answers on HTTPS only: send the request to https:// (GET and HEAD on port 80 are redirected; other methods are refused)."
}

resource "aws_lb_listener" "https" {
  count = local.https_enabled ? 1 : 0

  load_balancer_arn = aws_lb.this.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn

  default_action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.this.arn
  }
}
