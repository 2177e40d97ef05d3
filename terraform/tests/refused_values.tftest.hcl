# Values that are easy to get wrong are refused before anything is created: each run plans
# with one bad value and expects exactly the rule that guards it (a variable's validation or a
# resource's precondition) to fail. tests/unit/test_terraform_static.py checks each rule's
# message names the setting and the fix.

mock_provider "aws" {
  source = "./tests"
}

variables {
  image_tag           = "20260101-test"
  allow_plain_http    = true
  allow_anonymous_api = true
}

run "task_size_must_be_a_fargate_pair" {
  command = plan
  variables {
    task_size = { cpu = 2048, memory = 1024 }
  }
  expect_failures = [var.task_size]
}

run "ingress_needs_valid_cidrs" {
  command = plan
  variables {
    allowed_ingress_cidrs = ["0.0.0.0/33"]
  }
  expect_failures = [var.allowed_ingress_cidrs]
}

run "max_capacity_at_least_min_capacity" {
  command = plan
  variables {
    min_capacity = 3
    max_capacity = 2
  }
  expect_failures = [aws_appautoscaling_target.this]
}

run "alb_idle_timeout_outlasts_the_request_timeout" {
  command = plan
  variables {
    alb_idle_timeout = 60
  }
  expect_failures = [aws_lb.this]
}

run "ssl_policy_is_tls_1_2_or_newer" {
  command = plan
  variables {
    ssl_policy = "ELBSecurityPolicy-2016-08"
  }
  expect_failures = [var.ssl_policy]
}

run "server_keeps_connections_longer_than_the_alb" {
  command = plan
  variables {
    alb_idle_timeout = 190
  }
  expect_failures = [aws_ecs_task_definition.this]
}

run "plain_http_to_the_world_needs_an_explicit_yes" {
  command = plan
  variables {
    allow_plain_http = false
  }
  expect_failures = [aws_lb_listener.http]
}

run "scale_out_waits_for_a_new_task_to_serve" {
  command = plan
  variables {
    scale_out_cooldown = 60
  }
  expect_failures = [aws_appautoscaling_policy.this]
}

run "api_keys_secret_must_be_a_secrets_manager_arn" {
  command = plan
  variables {
    api_keys_secret_arn = "my-keys"
  }
  expect_failures = [var.api_keys_secret_arn]
}

run "api_keys_secret_arn_needs_its_6_character_suffix" {
  command = plan
  variables {
    api_keys_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pls-api-keys"
  }
  expect_failures = [var.api_keys_secret_arn]
}

run "an_anonymous_api_open_to_the_world_must_be_asked_for" {
  command = plan
  variables {
    allow_anonymous_api = false
  }
  expect_failures = [aws_vpc_security_group_ingress_rule.alb]
}
