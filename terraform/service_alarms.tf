################################################################################
# What an operator must know about the service itself, beside the traffic alarms
# (alarms.tf): fewer tasks running than ECS wants (crashes, tasks that cannot start or
# pull, capacity Fargate cannot place), and a deployment the circuit breaker failed and
# rolled back, which no metric shows: the old tasks go on serving.
# Both notify var.alarm_actions. An SNS topic there must allow events.amazonaws.com to
# publish for the deployment events (docs/runbook.md).
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

################################################################################
# Alarms on the service's own metrics (emf_metrics: CloudWatch Embedded Metric Format records
# in the service's log, names in pls_core/metric_names.py), which tell apart what the ALB's
# counts mix up: a 503 that sheds load by design (admission cap, latency budget: outcome
# `shed`) is not a failure, a 503 because a runner could not answer (`unavailable`) is.
#   failures:       the service's 5xx and unavailable 503s, plus the ALB's own 5xx; it replaces
#                   the alb-5xx and target-5xx alarms (alarms.tf) while emf_metrics is on.
#   load_shedding:  a sustained share of requests shed: the tasks are at capacity, add some.
#   low_confidence: a rising share of summaries marked low_confidence: the model meets text
#                   unlike what it was calibrated on (a warning, not an outage).
# An alarm cannot SEARCH, so each reads its metrics one by one: every endpoint's Requests of
# each outcome it counts (at most 10 metrics an alarm). FILL(m, 0): an outcome that did not
# happen in a period writes no record, and a sum with a missing term would be missing too.
################################################################################

locals {
  # pls_core/metric_names.py: ENDPOINTS and OUTCOMES (tests/unit/test_observability_terraform.py
  # keeps them in step).
  service_endpoints = ["/generate", "/generate-with-metrics", "/classify", "/evaluate"]
  service_outcomes  = ["2xx", "4xx", "shed", "unavailable", "5xx"]
  # A metric query id per endpoint: a lowercase letter first, then letters, digits and _.
  endpoint_ids = { for endpoint in local.service_endpoints : endpoint => replace(trimprefix(endpoint, "/"), "-", "_") }

  # Requests{Endpoint, Outcome} of every endpoint and outcome, by query id (e.g. generate_shed).
  service_requests = {
    for pair in setproduct(local.service_endpoints, local.service_outcomes) : "${local.endpoint_ids[pair[0]]}_${pair[1]}" => {
      namespace   = var.metrics_namespace
      metric_name = "Requests"
      dimensions  = merge(local.metrics_dimensions, { Endpoint = pair[0], Outcome = pair[1] })
      stat        = "Sum"
    }
  }

  service_metric_alarms = {
    failures = {
      description         = "Requests failed: the service answered 5xx or could not reach a runner (503 unavailable), or the ALB answered 5xx itself (no healthy task, a task gone, a timeout). Load the service shed by design is not counted (load-shedding alarm)."
      label               = "Failed requests (service 5xx and unavailable, ALB 5xx)"
      expression          = join(" + ", [for id in keys(local.failure_metrics) : "FILL(${id}, 0)"])
      period              = 300
      evaluation_periods  = 1
      comparison_operator = "GreaterThanOrEqualToThreshold"
      threshold           = var.alarm_5xx_threshold
      metrics             = local.failure_metrics
    }
    load_shedding = {
      description         = "The service has shed more than ${var.alarm_shed_percent} % of its requests for 15 minutes (503 at the admission cap or over the latency budget): the tasks are at capacity. Add capacity (max_capacity, task_size); nothing is broken."
      label               = "Requests shed (% of the requests the ALB sent to tasks)"
      expression          = "100 * (${join(" + ", [for id in keys(local.shed_metrics) : "FILL(${id}, 0)" if id != "requests"])}) / requests"
      period              = 300
      evaluation_periods  = 3
      comparison_operator = "GreaterThanThreshold"
      threshold           = var.alarm_shed_percent
      metrics             = local.shed_metrics
    }
    low_confidence = {
      description         = "More than ${var.alarm_low_confidence_percent} % of the summaries were marked low_confidence, each hour for 3 hours (hours with fewer than ${var.alarm_low_confidence_min_summaries} summaries count as fine): the model meets text unlike what it was calibrated on. A model-drift warning: look at what is sent, then retrain or recalibrate."
      label               = "Low-confidence summaries (% of summaries)"
      expression          = "IF(summaries >= ${var.alarm_low_confidence_min_summaries}, 100 * FILL(low_confidence, 0) / summaries, 0)"
      period              = 3600
      evaluation_periods  = 3
      comparison_operator = "GreaterThanThreshold"
      threshold           = var.alarm_low_confidence_percent
      metrics             = local.low_confidence_metrics
    }
  }

  # Written out, so that each alarm's metrics can be read here (and billed: $0.10 each a month).
  failure_metrics = {
    generate_5xx                      = local.service_requests["generate_5xx"]
    generate_unavailable              = local.service_requests["generate_unavailable"]
    generate_with_metrics_5xx         = local.service_requests["generate_with_metrics_5xx"]
    generate_with_metrics_unavailable = local.service_requests["generate_with_metrics_unavailable"]
    classify_5xx                      = local.service_requests["classify_5xx"]
    classify_unavailable              = local.service_requests["classify_unavailable"]
    evaluate_5xx                      = local.service_requests["evaluate_5xx"]
    evaluate_unavailable              = local.service_requests["evaluate_unavailable"]
    alb_5xx = {
      namespace   = "AWS/ApplicationELB"
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = local.alb_dimensions
      stat        = "Sum"
    }
  }

  shed_metrics = {
    generate_shed              = local.service_requests["generate_shed"]
    generate_with_metrics_shed = local.service_requests["generate_with_metrics_shed"]
    classify_shed              = local.service_requests["classify_shed"]
    evaluate_shed              = local.service_requests["evaluate_shed"]
    # Every request the ALB sent to a task, answered or shed (health checks are not counted).
    requests = {
      namespace   = "AWS/ApplicationELB"
      metric_name = "RequestCount"
      dimensions  = local.target_group_dimensions
      stat        = "Sum"
    }
  }

  low_confidence_metrics = {
    summaries = {
      namespace   = var.metrics_namespace
      metric_name = "Summaries"
      dimensions  = local.metrics_dimensions
      stat        = "Sum"
    }
    low_confidence = {
      namespace   = var.metrics_namespace
      metric_name = "LowConfidenceSummaries"
      dimensions  = local.metrics_dimensions
      stat        = "Sum"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "service_metrics" {
  for_each = var.emf_metrics ? local.service_metric_alarms : {}

  alarm_name          = "${var.name}-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  comparison_operator = each.value.comparison_operator
  threshold           = each.value.threshold
  evaluation_periods  = each.value.evaluation_periods
  datapoints_to_alarm = each.value.evaluation_periods
  # No traffic, no records: nothing failed, nothing was shed.
  treat_missing_data = "notBreaching"
  alarm_actions      = var.alarm_actions
  ok_actions         = var.alarm_actions

  # The expression the alarm watches, then one query per metric it reads (the queries that read
  # a metric are what an alarm is billed for: tests/support/costs.py counts them).
  dynamic "metric_query" {
    for_each = { alarm = each.value }
    content {
      id          = metric_query.key
      expression  = metric_query.value.expression
      label       = metric_query.value.label
      return_data = true
    }
  }

  dynamic "metric_query" {
    for_each = each.value.metrics
    content {
      id = metric_query.key
      metric {
        namespace   = metric_query.value.namespace
        metric_name = metric_query.value.metric_name
        dimensions  = metric_query.value.dimensions
        period      = each.value.period
        stat        = metric_query.value.stat
      }
    }
  }
}
