################################################################################
# What an operator must know about the service itself, beside the traffic alarms
# (alarms.tf): fewer tasks running than ECS wants (crashes, tasks that cannot start or
# pull, capacity Fargate cannot place), and a deployment the circuit breaker failed and
# rolled back, which no metric shows: the old tasks go on serving.
# Both notify var.alarm_actions. An SNS topic there must allow events.amazonaws.com to
# publish for the deployment events (README, "Logs and alarms").
################################################################################

locals {
  # A task pulls, starts and loads the model in a few minutes; longer than this below the
  # desired count means tasks keep failing.
  tasks_below_desired_minutes = 10
  alarm_topics                = [for arn in var.alarm_actions : arn if startswith(arn, "arn:${local.partition}:sns:")]
}

# RunningTaskCount and DesiredTaskCount come from Container Insights (the AWS/ECS namespace
# has no task counts), so the alarm exists only with it.
resource "aws_cloudwatch_metric_alarm" "tasks_below_desired" {
  count = var.enable_container_insights ? 1 : 0

  alarm_name          = "${var.name}-tasks-below-desired"
  alarm_description   = "Fewer tasks run than the service wants, for ${local.tasks_below_desired_minutes} minutes: tasks crash, fail to start (image, secrets, memory) or cannot be placed. Read the service's events and the stopped tasks' reasons."
  comparison_operator = "GreaterThanThreshold"
  threshold           = 0
  evaluation_periods  = local.tasks_below_desired_minutes
  datapoints_to_alarm = local.tasks_below_desired_minutes
  # Container Insights reports every minute while the service exists; a gap is not an outage
  # (no_healthy_hosts covers that one).
  treat_missing_data = "notBreaching"
  alarm_actions      = var.alarm_actions
  ok_actions         = var.alarm_actions

  metric_query {
    id          = "missing"
    expression  = "desired - running"
    label       = "Tasks desired but not running"
    return_data = true
  }

  metric_query {
    id = "desired"
    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "DesiredTaskCount"
      dimensions  = local.service_dimensions
      period      = 60
      stat        = "Maximum"
    }
  }

  metric_query {
    id = "running"
    metric {
      namespace   = "ECS/ContainerInsights"
      metric_name = "RunningTaskCount"
      dimensions  = local.service_dimensions
      period      = 60
      stat        = "Minimum"
    }
  }
}

# ECS sends SERVICE_DEPLOYMENT_FAILED when the circuit breaker gives up on a deployment (and
# rolls it back): the service still answers, on the previous version, so nothing else alarms.
resource "aws_cloudwatch_event_rule" "deployment_failed" {
  name        = "${var.name}-deployment-failed"
  description = "A deployment of ECS service ${var.name} failed (the circuit breaker rolled it back)."
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Deployment State Change"]
    resources     = [local.service.id]
    detail        = { eventName = ["SERVICE_DEPLOYMENT_FAILED"] }
  })
}

resource "aws_cloudwatch_event_target" "deployment_failed" {
  for_each = toset(local.alarm_topics)

  rule = aws_cloudwatch_event_rule.deployment_failed.name
  arn  = each.value

  input_transformer {
    input_paths = {
      deployment = "$.detail.deploymentId"
      reason     = "$.detail.reason"
      time       = "$.time"
    }
    input_template = "\"ECS deployment <deployment> of ${var.name} failed at <time> and was rolled back: <reason>. The service runs the previous task definition; Terraform's state still names the failed one (scripts/deploy/deploy.sh apply says how to adopt the running one).\""
  }
}
