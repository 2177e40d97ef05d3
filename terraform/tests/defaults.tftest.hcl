# The defaults, planned with a mock AWS provider (`terraform test`, run by
# tests/integration/test_terraform.py): private tasks without a NAT gateway, no TLS unless a
# certificate is given (then plain HTTP must be accepted explicitly), no keys, no WAF.

mock_provider "aws" {
  source = "./tests"
}

variables {
  image_tag           = "20260101-test"
  allow_plain_http    = true
  allow_anonymous_api = true
}

run "defaults_forward_plain_http_without_nat_keys_or_waf" {
  command = plan

  assert {
    condition     = aws_lb_listener.http.default_action[0].type == "forward"
    error_message = "Without a certificate, port 80 forwards to the tasks."
  }
  assert {
    condition     = length(aws_lb_listener.https) == 0
    error_message = "No HTTPS listener without a certificate."
  }
  assert {
    condition     = length(aws_nat_gateway.this) == 0
    error_message = "No NAT gateway by default: the tasks reach AWS through VPC endpoints."
  }
  assert {
    condition     = length(aws_lb_listener_rule.plain_http_writes) == 0
    error_message = "Without a certificate port 80 serves every method."
  }
  assert {
    condition     = length(local.container_secrets) == 0 && !local.api_keys_enabled && !local.waf_rate_rule_enabled
    error_message = "No API keys and no WAF rate rule unless asked for."
  }
  assert {
    condition     = length(aws_iam_role_policy.read_api_keys) == 0 && length(aws_wafv2_web_acl.rate_limit) == 0
    error_message = "Nothing is created for keys or the WAF by default."
  }
  assert {
    condition     = toset(keys(aws_vpc_endpoint.interface)) == toset(["ecr.api", "ecr.dkr", "logs"])
    error_message = "Without keys: the ECR and Logs interface endpoints only."
  }
}

run "a_certificate_turns_port_80_into_a_redirect" {
  command = plan

  variables {
    certificate_arn  = "arn:aws:acm:us-east-1:123456789012:certificate/0a1b2c3d-emulated"
    allow_plain_http = false
  }

  assert {
    condition     = aws_lb_listener.http.default_action[0].type == "redirect"
    error_message = "With a certificate, port 80 redirects to HTTPS."
  }
  assert {
    condition     = length(aws_lb_listener.https) == 1
    error_message = "With a certificate there is an HTTPS listener."
  }
  assert {
    condition = (
      length(aws_lb_listener_rule.plain_http_writes) == 1 &&
      aws_lb_listener_rule.plain_http_writes[0].action[0].type == "fixed-response" &&
      tonumber(aws_lb_listener_rule.plain_http_writes[0].action[0].fixed_response[0].status_code) >= 400 &&
      tonumber(aws_lb_listener_rule.plain_http_writes[0].action[0].fixed_response[0].status_code) < 500 &&
      strcontains(jsondecode(aws_lb_listener_rule.plain_http_writes[0].action[0].fixed_response[0].message_body).error, "https://") &&
      toset(one(aws_lb_listener_rule.plain_http_writes[0].condition).http_request_method[0].values) == toset(["POST", "PUT", "PATCH", "DELETE", "OPTIONS"])
    )
    error_message = "Writes to port 80 get a 4xx JSON body that says to use HTTPS, not a redirect a client follows as a GET."
  }
}

run "a_narrowed_network_needs_no_keys_or_waf" {
  command = plan

  variables {
    allowed_ingress_cidrs = ["10.0.0.0/8"]
    allow_plain_http      = false
    allow_anonymous_api   = false
  }

  assert {
    condition     = keys(aws_vpc_security_group_ingress_rule.alb) == ["80-10.0.0.0/8"]
    error_message = "Callers from a narrowed network need no keys or WAF: only that network reaches the ALB."
  }
}
