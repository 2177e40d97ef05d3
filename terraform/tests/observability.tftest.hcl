# The service's own metrics in Terraform (issue 24), with a mock AWS provider (`terraform test`,
# run by tests/integration/test_terraform.py): the container told to write them, the dashboard,
# the alarms that tell shedding from failure, the scaling policy on the model's work, and the
# behaviour of today without them (emf_metrics = false). Then each value these variables refuse,
# one run per value, expecting exactly the rule that guards it;
# tests/unit/test_observability_terraform.py checks each rule's message and every metric named.

mock_provider "aws" {
  source = "./tests"
}

variables {
  image_tag           = "20260101-test"
  allow_plain_http    = true
  allow_anonymous_api = true
  alarm_actions       = ["arn:aws:sns:us-east-1:123456789012:pls-alerts"]
}

run "the_container_writes_its_metrics_by_default_and_traces_nowhere" {
  command = plan

  assert {
    condition = (
      local.container_environment["PLS_EMF_METRICS"] == "true" &&
      local.container_environment["PLS_METRICS_NAMESPACE"] == "PLS/Service" &&
      local.container_environment["PLS_METRICS_SERVICE"] == var.name
    )
    error_message = "With emf_metrics (the default) the container writes its metrics, in metrics_namespace, with Service = the stack's name."
  }
  assert {
    condition     = !contains(keys(local.container_environment), "PLS_OTLP_ENDPOINT")
    error_message = "Tracing is off unless otlp_endpoint is set."
  }
}

run "an_otlp_endpoint_turns_tracing_on" {
  command = plan

  variables {
    otlp_endpoint = "http://localhost:4318/v1/traces"
  }

  assert {
    condition     = local.container_environment["PLS_OTLP_ENDPOINT"] == "http://localhost:4318/v1/traces"
    error_message = "otlp_endpoint reaches the container as PLS_OTLP_ENDPOINT."
  }
}

run "the_dashboard_shows_the_alb_the_tasks_and_the_service" {
  # Applied (mocked): the ALB's name in the metrics' dimensions is known only after apply.
  command = apply

  assert {
    condition     = aws_cloudwatch_dashboard.this.dashboard_name == var.name && output.dashboard_name == var.name
    error_message = "The dashboard is named after the stack."
  }
  assert {
    condition     = endswith(output.dashboard_url, "/cloudwatch/home?region=us-east-1#dashboards/dashboard/${var.name}") && startswith(output.dashboard_url, "https://console.aws.amazon.com/")
    error_message = "dashboard_url opens the dashboard in the console of the stack's region."
  }
  assert {
    condition = toset([for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : w.properties.title if w.type == "metric"]) == toset([
      "ALB requests (per minute)",
      "Target response time (seconds)",
      "5xx by source (per minute)",
      "Task CPU and memory (%)",
      "Tasks",
      "Requests by outcome (per minute, all endpoints)",
      "Generation latency (ms, answered generations)",
      "Queue wait before the batch (ms)",
      "Batch size (chunks per simplifier batch)",
      "Chunks and work in flight (per API worker)",
      "Low-confidence summaries (% of summaries)",
    ])
    error_message = "With emf_metrics the dashboard has the ALB's, the tasks' and the service's graphs."
  }
  assert {
    condition = toset(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [
        for m in w.properties.metrics : m[1] if can(m[0] == "AWS/ApplicationELB") && m[0] == "AWS/ApplicationELB"
      ] if try(w.properties.title, "") == "5xx by source (per minute)"
    ])) == toset(["HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count"])
    error_message = "5xx are drawn by source: the ALB's own and the targets'."
  }
  assert {
    condition = toset(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [
        for m in w.properties.metrics : m[1] if can(m[0] == "ECS/ContainerInsights") && m[0] == "ECS/ContainerInsights"
      ] if try(w.properties.title, "") == "Tasks"
    ])) == toset(["RunningTaskCount", "DesiredTaskCount"])
    error_message = "Running and desired tasks come from Container Insights, as the tasks-below-desired alarm's do."
  }
  assert {
    condition = toset(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [
        for a in w.properties.annotations.horizontal : a.value
      ] if try(w.properties.title, "") == "Chunks and work in flight (per API worker)"
    ])) == toset([16, 32])
    error_message = "The work graph marks the scaling target and the admission cap."
  }
}

run "the_failure_alarm_counts_failures_and_not_shed_load" {
  command = apply

  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.service_metrics)) == toset(["failures", "load_shedding", "low_confidence"])
    error_message = "With emf_metrics: a failure alarm, a load-shedding alarm and a model-drift warning."
  }
  assert {
    condition     = !contains(keys(aws_cloudwatch_metric_alarm.this), "target_5xx") && !contains(keys(aws_cloudwatch_metric_alarm.this), "alb_5xx")
    error_message = "The failure alarm replaces the 5xx counts, which take shed 503s for failures."
  }
  assert {
    condition = toset([
      for q in aws_cloudwatch_metric_alarm.service_metrics["failures"].metric_query : q.metric[0].dimensions["Outcome"]
      if try(q.metric[0].metric_name, "") == "Requests"
    ]) == toset(["5xx", "unavailable"])
    error_message = "Failures are the service's 5xx and its runner-unavailable 503s, never the shed ones."
  }
  assert {
    condition = length([
      for q in aws_cloudwatch_metric_alarm.service_metrics["failures"].metric_query : q
      if try(q.metric[0].metric_name, "") == "Requests"
    ]) == 8
    error_message = "Each of the four endpoints' 5xx and unavailable counts is read."
  }
  assert {
    condition = length([
      for q in aws_cloudwatch_metric_alarm.service_metrics["failures"].metric_query : q
      if try(q.metric[0].metric_name, "") == "HTTPCode_ELB_5XX_Count"
    ]) == 1
    error_message = "The ALB's own 5xx (no healthy task, a task gone, a timeout) are failures too."
  }
  assert {
    condition     = aws_cloudwatch_metric_alarm.service_metrics["failures"].threshold == var.alarm_5xx_threshold
    error_message = "The failure alarm keeps alarm_5xx_threshold."
  }
  assert {
    condition = toset([
      for q in aws_cloudwatch_metric_alarm.service_metrics["load_shedding"].metric_query : try(q.metric[0].dimensions["Outcome"], q.metric[0].metric_name, "expression")
    ]) == toset(["shed", "RequestCount", "expression"])
    error_message = "The load-shedding alarm reads the shed requests against every request the ALB sent."
  }
  assert {
    condition = alltrue([
      for alarm in aws_cloudwatch_metric_alarm.service_metrics : alarm.alarm_actions == toset(var.alarm_actions) && alarm.ok_actions == toset(var.alarm_actions)
    ])
    error_message = "The new alarms notify alarm_actions, as the others do."
  }
}

run "the_model_drift_warning_needs_volume_and_time" {
  command = apply

  assert {
    condition = toset([
      for q in aws_cloudwatch_metric_alarm.service_metrics["low_confidence"].metric_query : q.metric[0].metric_name if length(q.metric) == 1
    ]) == toset(["Summaries", "LowConfidenceSummaries"])
    error_message = "The warning reads the low-confidence share of the summaries."
  }
  assert {
    condition = anytrue([
      for q in aws_cloudwatch_metric_alarm.service_metrics["low_confidence"].metric_query : startswith(coalesce(q.expression, "-"), "IF(summaries >= 50,") && q.return_data == true
    ])
    error_message = "An hour with fewer than alarm_low_confidence_min_summaries summaries counts as fine."
  }
  assert {
    condition = (
      aws_cloudwatch_metric_alarm.service_metrics["low_confidence"].evaluation_periods * one([
        for q in aws_cloudwatch_metric_alarm.service_metrics["low_confidence"].metric_query : q.metric[0].period if try(q.metric[0].metric_name, "") == "Summaries"
      ]) >= 3 * 3600
    )
    error_message = "The warning waits hours, not minutes."
  }
}

run "autoscaling_holds_the_work_in_flight_beside_cpu" {
  command = plan

  assert {
    condition     = toset(keys(aws_appautoscaling_policy.this)) == toset(["cpu", "work"])
    error_message = "With emf_metrics: the work in flight and CPU; the request count goes (one request is 1 chunk, the next 8)."
  }
  assert {
    condition = (
      aws_appautoscaling_policy.this["work"].target_tracking_scaling_policy_configuration[0].target_value == 16 &&
      one(aws_appautoscaling_policy.this["work"].target_tracking_scaling_policy_configuration[0].customized_metric_specification).metric_name == "WorkInFlight" &&
      one(aws_appautoscaling_policy.this["work"].target_tracking_scaling_policy_configuration[0].customized_metric_specification).namespace == var.metrics_namespace &&
      one(aws_appautoscaling_policy.this["work"].target_tracking_scaling_policy_configuration[0].customized_metric_specification).statistic == "Average"
    )
    error_message = "The work policy holds the average WorkInFlight at work_in_flight_target (16: half the admission cap of 32)."
  }
  assert {
    condition = (
      length(one(aws_appautoscaling_policy.this["work"].target_tracking_scaling_policy_configuration[0].customized_metric_specification).dimensions) == 1 &&
      one(one(aws_appautoscaling_policy.this["work"].target_tracking_scaling_policy_configuration[0].customized_metric_specification).dimensions).name == "Service" &&
      one(one(aws_appautoscaling_policy.this["work"].target_tracking_scaling_policy_configuration[0].customized_metric_specification).dimensions).value == var.name
    )
    error_message = "The policy reads the metric with the Service dimension the container writes."
  }
  assert {
    condition     = length(aws_appautoscaling_policy.this["work"].target_tracking_scaling_policy_configuration[0].predefined_metric_specification) == 0
    error_message = "The work policy has no predefined metric beside its own."
  }
}

run "without_the_service_metrics_everything_stays_as_before" {
  command = apply

  variables {
    emf_metrics = false
  }

  assert {
    condition     = length(setintersection(keys(local.container_environment), ["PLS_EMF_METRICS", "PLS_METRICS_NAMESPACE", "PLS_METRICS_SERVICE"])) == 0
    error_message = "emf_metrics = false tells the container nothing: it writes no metrics."
  }
  assert {
    condition     = length(aws_cloudwatch_metric_alarm.service_metrics) == 0
    error_message = "No alarm on metrics nobody writes."
  }
  assert {
    condition     = toset(keys(aws_cloudwatch_metric_alarm.this)) == toset(["alb_5xx", "target_5xx", "no_healthy_hosts", "unhealthy_hosts", "high_cpu"])
    error_message = "The 5xx counts of the ALB and the targets stay the 5xx alarms."
  }
  assert {
    condition     = toset(keys(aws_appautoscaling_policy.this)) == toset(["cpu", "requests"])
    error_message = "Without the work metric the tasks scale on CPU and ALB requests per task, as before."
  }
  assert {
    condition     = length([for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : w if w.type == "metric"]) == 5
    error_message = "The dashboard keeps the ALB's and the tasks' graphs only."
  }
  assert {
    condition = alltrue(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [
        for m in w.properties.metrics : !can(m[0]) || m[0] != var.metrics_namespace
      ] if w.type == "metric"
    ]))
    error_message = "No graph of the service's own metrics without them."
  }
}

run "without_container_insights_the_dashboard_counts_healthy_targets_only" {
  command = apply

  variables {
    enable_container_insights = false
  }

  assert {
    condition = toset(flatten([
      for w in jsondecode(aws_cloudwatch_dashboard.this.dashboard_body).widgets : [
        for m in w.properties.metrics : m[1]
      ] if try(w.properties.title, "") == "Tasks"
    ])) == toset(["HealthyHostCount"])
    error_message = "Running and desired task counts exist only with Container Insights."
  }
}

# --- refused values --------------------------------------------------------------------------

run "metrics_namespace_must_not_be_an_aws_one" {
  command = plan
  variables {
    metrics_namespace = "AWS/PLS"
  }
  expect_failures = [var.metrics_namespace]
}

run "metrics_namespace_must_not_be_empty" {
  command = plan
  variables {
    metrics_namespace = ""
  }
  expect_failures = [var.metrics_namespace]
}

run "otlp_endpoint_must_be_a_url" {
  command = plan
  variables {
    otlp_endpoint = "localhost:4318"
  }
  expect_failures = [var.otlp_endpoint]
}

run "work_in_flight_target_must_be_positive" {
  command = plan
  variables {
    work_in_flight_target = 0
  }
  expect_failures = [var.work_in_flight_target]
}

run "work_in_flight_target_must_stay_below_the_admission_cap" {
  command = plan
  variables {
    work_in_flight_target = 32
  }
  expect_failures = [aws_appautoscaling_policy.this]
}

run "work_in_flight_target_follows_a_lowered_admission_cap" {
  command = plan
  variables {
    service_environment   = { PLS_MAX_INFLIGHT_GENERATIONS = "16" }
    work_in_flight_target = 16
  }
  expect_failures = [aws_appautoscaling_policy.this]
}

run "service_environment_must_not_set_the_metrics_settings" {
  command = plan
  variables {
    service_environment = { PLS_METRICS_NAMESPACE = "Other" }
  }
  expect_failures = [var.service_environment]
}

run "alarm_shed_percent_must_be_above_zero" {
  command = plan
  variables {
    alarm_shed_percent = 0
  }
  expect_failures = [var.alarm_shed_percent]
}

run "alarm_low_confidence_percent_must_be_below_100" {
  command = plan
  variables {
    alarm_low_confidence_percent = 100
  }
  expect_failures = [var.alarm_low_confidence_percent]
}

run "alarm_low_confidence_min_summaries_must_be_whole" {
  command = plan
  variables {
    alarm_low_confidence_min_summaries = 0.5
  }
  expect_failures = [var.alarm_low_confidence_min_summaries]
}
