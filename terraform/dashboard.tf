################################################################################
# One CloudWatch dashboard, `<name>`: the load balancer (requests, response time, 5xx by
# source), the tasks (CPU, memory, running vs desired), and with emf_metrics the service's own
# metrics (requests by outcome, generation latency, queue wait, batch size, chunks and work in
# flight, the low-confidence share). Without emf_metrics those widgets are left out and the
# rest stays. Each widget has its place on the 24-column grid, `at = [x, y, width, height]`;
# each graph is written as a list of metrics (namespace, name, dimensions, how to draw it) and
# rendered to CloudWatch's array form below;
# tests/unit/test_observability_terraform.py checks every metric is one AWS or the service
# publishes.
################################################################################

locals {
  dashboard_period = 60

  # Drawn for every outcome: the sum of that outcome over the endpoints.
  outcome_sums = {
    for outcome in local.service_outcomes : outcome => join(" + ", [
      for endpoint in local.service_endpoints : "FILL(${local.endpoint_ids[endpoint]}_${outcome}, 0)"
    ])
  }

  dashboard_graphs = concat([
    {
      title = "ALB requests (per minute)"
      at    = [0, 1, 8, 6]
      metrics = [
        { namespace = "AWS/ApplicationELB", metric_name = "RequestCount", dimensions = local.alb_dimensions, options = { stat = "Sum", label = "requests" } },
      ]
    },
    {
      title = "Target response time (seconds)"
      at    = [8, 1, 8, 6]
      metrics = [
        { namespace = "AWS/ApplicationELB", metric_name = "TargetResponseTime", dimensions = local.target_group_dimensions, options = { stat = "p95", label = "p95" } },
        { namespace = "AWS/ApplicationELB", metric_name = "TargetResponseTime", dimensions = local.target_group_dimensions, options = { stat = "p50", label = "p50" } },
      ]
    },
    {
      title = "5xx by source (per minute)"
      at    = [16, 1, 8, 6]
      metrics = [
        { namespace = "AWS/ApplicationELB", metric_name = "HTTPCode_ELB_5XX_Count", dimensions = local.alb_dimensions, options = { stat = "Sum", label = "from the ALB (no healthy task, task gone, timeout)" } },
        { namespace = "AWS/ApplicationELB", metric_name = "HTTPCode_Target_5XX_Count", dimensions = local.target_group_dimensions, options = { stat = "Sum", label = "from the tasks (shed 503s included)" } },
      ]
    },
    {
      title = "Task CPU and memory (%)"
      at    = [0, 8, 12, 6]
      metrics = [
        { namespace = "AWS/ECS", metric_name = "CPUUtilization", dimensions = local.service_dimensions, options = { stat = "Average", label = "CPU" } },
        { namespace = "AWS/ECS", metric_name = "MemoryUtilization", dimensions = local.service_dimensions, options = { stat = "Average", label = "memory" } },
      ]
      annotations = [{ label = "high-cpu alarm", value = var.alarm_cpu_threshold }]
    },
    {
      # The counts come from Container Insights, as the tasks-below-desired alarm's do
      # (service_alarms.tf): without it, the ALB's healthy targets alone.
      title = "Tasks"
      at    = [12, 8, 12, 6]
      metrics = concat([
        { namespace = "AWS/ApplicationELB", metric_name = "HealthyHostCount", dimensions = local.target_group_dimensions, options = { stat = "Minimum", label = "healthy behind the ALB" } },
        ], [for metric in [
          { namespace = "ECS/ContainerInsights", metric_name = "RunningTaskCount", dimensions = local.service_dimensions, options = { stat = "Minimum", label = "running" } },
          { namespace = "ECS/ContainerInsights", metric_name = "DesiredTaskCount", dimensions = local.service_dimensions, options = { stat = "Maximum", label = "desired" } },
      ] : metric if var.enable_container_insights])
    },
    ], [for graph in [
      {
        title   = "Requests by outcome (per minute, all endpoints)"
        at      = [0, 15, 8, 6]
        metrics = [for id, metric in local.service_requests : merge(metric, { options = { id = id, stat = "Sum", visible = false } })]
        expressions = [for outcome in local.service_outcomes : {
          id = "outcome_${outcome}", label = outcome, expression = local.outcome_sums[outcome]
        }]
      },
      {
        title = "Generation latency (ms, answered generations)"
        at    = [8, 15, 8, 6]
        metrics = [
          { namespace = var.metrics_namespace, metric_name = "GenerationLatency", dimensions = local.metrics_dimensions, options = { stat = "p95", label = "p95" } },
          { namespace = var.metrics_namespace, metric_name = "GenerationLatency", dimensions = local.metrics_dimensions, options = { stat = "p50", label = "p50" } },
        ]
      },
      {
        title = "Queue wait before the batch (ms)"
        at    = [16, 15, 8, 6]
        metrics = [
          { namespace = var.metrics_namespace, metric_name = "QueueWait", dimensions = local.metrics_dimensions, options = { stat = "p95", label = "p95" } },
          { namespace = var.metrics_namespace, metric_name = "QueueWait", dimensions = local.metrics_dimensions, options = { stat = "p50", label = "p50" } },
        ]
      },
      {
        title = "Batch size (chunks per simplifier batch)"
        at    = [0, 21, 8, 6]
        metrics = [
          { namespace = var.metrics_namespace, metric_name = "BatchSize", dimensions = local.metrics_dimensions, options = { stat = "Average", label = "average" } },
          { namespace = var.metrics_namespace, metric_name = "BatchSize", dimensions = local.metrics_dimensions, options = { stat = "Maximum", label = "largest" } },
        ]
      },
      {
        # WorkInFlight is what autoscaling holds at work_in_flight_target; the API worker sheds
        # above the admission cap.
        title = "Chunks and work in flight (per API worker)"
        at    = [8, 21, 8, 6]
        metrics = [
          { namespace = var.metrics_namespace, metric_name = "WorkInFlight", dimensions = local.metrics_dimensions, options = { stat = "Average", label = "work, standard generations (average)" } },
          { namespace = var.metrics_namespace, metric_name = "WorkInFlight", dimensions = local.metrics_dimensions, options = { stat = "Maximum", label = "work (busiest)" } },
          { namespace = var.metrics_namespace, metric_name = "ChunksInFlight", dimensions = local.metrics_dimensions, options = { stat = "Average", label = "chunks (average)" } },
        ]
        annotations = concat(
          [for target in [var.work_in_flight_target] : { label = "scaling target", value = target } if var.enable_autoscaling],
          [for cap in [local.admission_capacity] : { label = "admission cap (sheds above)", value = cap } if cap > 0],
        )
      },
      {
        title   = "Low-confidence summaries (% of summaries)"
        at      = [16, 21, 8, 6]
        metrics = [for id, metric in local.low_confidence_metrics : merge(metric, { options = { id = id, stat = "Sum", visible = false } })]
        expressions = [
          { id = "share", label = "low-confidence share", expression = "100 * FILL(low_confidence, 0) / summaries" },
        ]
        annotations = [{ label = "model-drift alarm", value = var.alarm_low_confidence_percent }]
      },
  ] : graph if var.emf_metrics])

  dashboard_texts = concat([
    {
      at       = [0, 0, 24, 1]
      markdown = "**Load balancer** · alarms and what to do: docs/runbook.md"
    },
    {
      at       = [0, 7, 24, 1]
      markdown = "**Tasks** (service ${var.name}, cluster ${var.name})"
    },
    ], [for text in [
      {
        at       = [0, 14, 24, 1]
        markdown = "**The service's own metrics** (namespace ${var.metrics_namespace}, Service = ${var.name}; emf_metrics)"
      },
  ] : text if var.emf_metrics])

  dashboard = {
    widgets = concat(
      [for text in local.dashboard_texts : {
        type       = "text"
        x          = text.at[0]
        y          = text.at[1]
        width      = text.at[2]
        height     = text.at[3]
        properties = { markdown = text.markdown }
      }],
      [for graph in local.dashboard_graphs : {
        type   = "metric"
        x      = graph.at[0]
        y      = graph.at[1]
        width  = graph.at[2]
        height = graph.at[3]
        properties = {
          title   = graph.title
          region  = local.region
          view    = "timeSeries"
          stacked = false
          period  = local.dashboard_period
          # [namespace, name, dimension name, value, ..., {how to draw it}], then the expressions.
          metrics = concat(
            [for metric in graph.metrics : concat(
              [metric.namespace, metric.metric_name],
              flatten([for name in sort(keys(metric.dimensions)) : [name, metric.dimensions[name]]]),
              [metric.options],
            )],
            [for expression in try(graph.expressions, []) : [expression]],
          )
          annotations = { horizontal = try(graph.annotations, []) }
        }
      }],
    )
  }
}

resource "aws_cloudwatch_dashboard" "this" {
  dashboard_name = var.name
  dashboard_body = jsonencode(local.dashboard)
}
