# Who owns the service's task count, applied twice with a mock AWS provider (`terraform test`,
# run by tests/integration/test_terraform.py): with autoscaling, Application Auto Scaling (a
# later apply leaves the count alone); without, Terraform (every apply sets min_capacity).

mock_provider "aws" {
  source = "./tests"
}

variables {
  image_tag           = "20260101-test"
  allow_plain_http    = true
  allow_anonymous_api = true
}

run "autoscaling_owns_the_count" {
  command = plan

  assert {
    condition     = length(aws_ecs_service.this) == 1 && length(aws_ecs_service.fixed_count) == 0
    error_message = "With autoscaling on, the service whose task count Terraform ignores exists alone."
  }
  assert {
    condition     = aws_appautoscaling_target.this[0].min_capacity == var.min_capacity
    error_message = "The scalable target keeps at least min_capacity tasks."
  }
}

run "without_autoscaling_first_apply" {
  command = apply

  variables {
    enable_autoscaling = false
    min_capacity       = 1
  }

  assert {
    condition     = length(aws_ecs_service.this) == 0 && aws_ecs_service.fixed_count[0].desired_count == 1
    error_message = "With autoscaling off, the service runs min_capacity tasks."
  }
  assert {
    condition     = length(aws_appautoscaling_target.this) == 0 && length(aws_appautoscaling_policy.this) == 0
    error_message = "With autoscaling off, nothing scales the service."
  }
}

run "without_autoscaling_min_capacity_raised" {
  command = apply

  variables {
    enable_autoscaling = false
    min_capacity       = 3
  }

  assert {
    condition     = aws_ecs_service.fixed_count[0].desired_count == 3
    error_message = "Raising min_capacity with autoscaling off must change the running task count."
  }
}
