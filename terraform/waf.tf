################################################################################
# Optional WAF web ACL with one rate-based rule: a client IP that sends more than
# waf_rate_limit requests in waf_rate_window_seconds is blocked with 429 until its rate
# falls. Off by default (a web ACL has a monthly cost); waf_web_acl_arn attaches an
# existing web ACL instead, and a load balancer takes only one.
################################################################################

variable "waf_rate_limit" {
  description = "Requests one client IP may send per waf_rate_window_seconds before the WAF answers 429. Null: no web ACL is created."
  type        = number
  default     = null

  validation {
    condition     = var.waf_rate_limit == null || (coalesce(var.waf_rate_limit, 0) >= 10 && coalesce(var.waf_rate_limit, 0) <= 2000000000)
    error_message = "waf_rate_limit must be between 10 and 2000000000 (AWS WAF limits)."
  }
}

variable "waf_rate_window_seconds" {
  description = "Window over which the WAF counts a client IP's requests: 60, 120, 300 or 600 seconds."
  type        = number
  default     = 300

  validation {
    condition     = contains([60, 120, 300, 600], var.waf_rate_window_seconds)
    error_message = "waf_rate_window_seconds must be 60, 120, 300 or 600."
  }
}

locals {
  waf_rate_rule_enabled = var.waf_rate_limit != null
  waf_enabled           = local.waf_rate_rule_enabled || var.waf_web_acl_arn != null
}

resource "aws_wafv2_web_acl" "rate_limit" {
  # checkov:skip=CKV2_AWS_31:WAF logging needs a Firehose stream or an aws-waf-logs-* log group that this optional, minimal ACL does not own; sampled requests and CloudWatch metrics are on.
  # checkov:skip=CKV_AWS_192:The ACL holds only a per-IP rate rule; add the AWS managed rule groups (Log4j included) through waf_web_acl_arn when wanted.
  count = local.waf_rate_rule_enabled ? 1 : 0

  name        = "${var.name}-rate-limit"
  description = "Per-client-IP rate limit in front of ${var.name}"
  scope       = "REGIONAL"

  default_action {
    allow {}
  }

  rule {
    name     = "rate-per-client-ip"
    priority = 1

    action {
      block {
        custom_response {
          response_code = 429
          response_header {
            name  = "Retry-After"
            value = tostring(var.waf_rate_window_seconds)
          }
        }
      }
    }

    statement {
      rate_based_statement {
        limit                 = var.waf_rate_limit
        evaluation_window_sec = var.waf_rate_window_seconds
        aggregate_key_type    = "IP"
      }
    }

    visibility_config {
      cloudwatch_metrics_enabled = true
      metric_name                = "${var.name}-rate-per-client-ip"
      sampled_requests_enabled   = true
    }
  }

  visibility_config {
    cloudwatch_metrics_enabled = true
    metric_name                = "${var.name}-web-acl"
    sampled_requests_enabled   = true
  }

  lifecycle {
    precondition {
      condition     = var.waf_web_acl_arn == null
      error_message = "Set either waf_rate_limit (a web ACL made here) or waf_web_acl_arn (an existing one), not both: an ALB takes one web ACL."
    }
  }
}

resource "aws_wafv2_web_acl_association" "rate_limit" {
  count = local.waf_rate_rule_enabled ? 1 : 0

  resource_arn = aws_lb.this.arn
  web_acl_arn  = aws_wafv2_web_acl.rate_limit[0].arn
}
