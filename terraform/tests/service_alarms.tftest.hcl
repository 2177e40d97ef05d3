# The service's own alarms, planned with a mock AWS provider (`terraform test`, run by
# tests/integration/test_terraform.py): tasks below the desired count, and a failed deployment
# sent to the alarm topic.

mock_provider "aws" {
  source = "./tests"
}

variables {
  image_tag           = "20260101-test"
  allow_plain_http    = true
  allow_anonymous_api = true
  alarm_actions       = ["arn:aws:sns:us-east-1:123456789012:pls-alerts"]
}

run "tasks_below_desired_and_failed_deployments_notify_the_topic" {
  # Applied (mocked): the rule names the service by its ARN, known only after apply.
  command = apply

  assert {
    condition     = aws_cloudwatch_metric_alarm.tasks_below_desired[0].alarm_actions == toset(var.alarm_actions)
    error_message = "Fewer running tasks than desired notifies the alarm actions."
  }
  assert {
    condition     = toset([for q in aws_cloudwatch_metric_alarm.tasks_below_desired[0].metric_query : q.expression if q.return_data == true]) == toset(["desired - running"])
    error_message = "The alarm compares Container Insights' desired and running task counts."
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.deployment_failed.event_pattern).detail.eventName == ["SERVICE_DEPLOYMENT_FAILED"]
    error_message = "The rule matches ECS's failed-deployment events."
  }
  assert {
    condition     = jsondecode(aws_cloudwatch_event_rule.deployment_failed.event_pattern).resources == [local.service.id]
    error_message = "The rule matches this service's deployments only."
  }
  assert {
    condition     = toset([for target in aws_cloudwatch_event_target.deployment_failed : target.arn]) == toset(var.alarm_actions)
    error_message = "A failed deployment is sent to the alarm topic."
  }
}

run "without_container_insights_there_are_no_task_counts_to_alarm_on" {
  command = plan

  variables {
    enable_container_insights = false
    alarm_actions             = []
  }

  assert {
    condition     = length(aws_cloudwatch_metric_alarm.tasks_below_desired) == 0
    error_message = "The task counts come from Container Insights: no alarm without it."
  }
  assert {
    condition     = length(aws_cloudwatch_event_target.deployment_failed) == 0
    error_message = "No alarm topic, no target."
  }
}
