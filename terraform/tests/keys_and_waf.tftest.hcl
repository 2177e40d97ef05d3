# API keys from Secrets Manager and the WAF's per-IP rate rule (secrets.tf, waf.tf), planned
# with a mock AWS provider: what the task definition, the execution role's policy and the web
# ACL would be. The moto apply in tests/e2e/test_deploy.py creates the same for real.

mock_provider "aws" {
  source = "./tests"
}

variables {
  image_tag               = "20260101-test"
  allow_plain_http        = true
  api_keys_secret_arn     = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pls-api-keys-AbCdEf"
  waf_rate_limit          = 500
  waf_rate_window_seconds = 60
}

run "keys_reach_the_container_as_a_secret_and_only_the_execution_role_reads_it" {
  command = plan

  assert {
    condition = (
      length(local.container_secrets) == 1 &&
      local.container_secrets[0].name == "PLS_API_KEYS" &&
      local.container_secrets[0].valueFrom == var.api_keys_secret_arn
    )
    error_message = "The keys reach the container from Secrets Manager."
  }
  assert {
    condition     = !contains(keys(var.service_environment), "PLS_API_KEYS")
    error_message = "The keys are never plain environment."
  }
  assert {
    condition = (
      length(data.aws_iam_policy_document.read_api_keys[0].statement) == 1 &&
      coalesce(data.aws_iam_policy_document.read_api_keys[0].statement[0].effect, "Allow") == "Allow" &&
      data.aws_iam_policy_document.read_api_keys[0].statement[0].actions == toset(["secretsmanager:GetSecretValue"]) &&
      data.aws_iam_policy_document.read_api_keys[0].statement[0].resources == toset([var.api_keys_secret_arn])
    )
    error_message = "The policy allows GetSecretValue on that one secret and nothing else."
  }
}

run "without_a_nat_gateway_the_keys_secret_is_reached_through_an_endpoint" {
  command = plan

  assert {
    condition     = contains(keys(aws_vpc_endpoint.interface), "secretsmanager")
    error_message = "Keys on and no NAT gateway (the default): ECS needs a Secrets Manager endpoint to read the keys."
  }
  assert {
    condition     = aws_vpc_endpoint.interface["secretsmanager"].private_dns_enabled && aws_vpc_endpoint.interface["secretsmanager"].vpc_endpoint_type == "Interface"
    error_message = "The endpoint answers the service's own DNS name inside the VPC."
  }
}

run "with_a_nat_gateway_no_secrets_manager_endpoint" {
  command = plan

  variables {
    enable_nat_gateway = true
  }

  assert {
    condition     = !contains(keys(aws_vpc_endpoint.interface), "secretsmanager")
    error_message = "With a NAT gateway the secret is reached through it; an endpoint would only cost."
  }
}

run "the_waf_blocks_a_client_ip_over_the_rate_with_429_on_the_alb" {
  command = plan

  assert {
    condition     = aws_wafv2_web_acl.rate_limit[0].scope == "REGIONAL" && length(aws_wafv2_web_acl.rate_limit[0].default_action[0].allow) == 1
    error_message = "A regional web ACL that allows by default."
  }
  assert {
    condition = (
      one(one(aws_wafv2_web_acl.rate_limit[0].rule).statement[0].rate_based_statement).limit == 500 &&
      one(one(aws_wafv2_web_acl.rate_limit[0].rule).statement[0].rate_based_statement).aggregate_key_type == "IP" &&
      one(one(aws_wafv2_web_acl.rate_limit[0].rule).statement[0].rate_based_statement).evaluation_window_sec == 60
    )
    error_message = "The rate rule counts per client IP over the configured window."
  }
  assert {
    condition = (
      one(one(aws_wafv2_web_acl.rate_limit[0].rule).action[0].block[0].custom_response).response_code == 429 &&
      one(one(one(aws_wafv2_web_acl.rate_limit[0].rule).action[0].block[0].custom_response).response_header).value == "60"
    )
    error_message = "A blocked client gets 429 with Retry-After: the window."
  }
  assert {
    condition     = length(aws_wafv2_web_acl_association.rate_limit) == 1
    error_message = "The web ACL is associated with the ALB."
  }
}
