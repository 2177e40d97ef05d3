################################################################################
# Target tracking, whichever policy asks for more tasks wins; scale-in is slow because a new
# task needs minutes to load the model. Each policy is `<name>-<key>`; moved.tf maps the
# policies' earlier addresses here.
#   With emf_metrics (the default): the model's work in flight per API worker (the service's
#   WorkInFlight metric, in standard generations) and CPU. A request is 1 chunk or 8, 1 beam or
#   10: the ALB's request count says little about the work, the admission cap counts it.
#   Without: ALB requests per task and CPU, the only signals there are then.
################################################################################

locals {
  policies_in_use = var.emf_metrics ? local.scaling_policies : local.scaling_on_requests

  # With the service's metrics (emf_metrics, the default).
  scaling_policies = {
    cpu  = local.cpu_policy
    work = local.work_policy
  }

  # Without them.
  scaling_on_requests = {
    cpu      = local.cpu_policy
    requests = local.requests_policy
  }

  cpu_policy = {
    target_value           = var.cpu_target_utilization
    predefined_metric_type = "ECSServiceAverageCPUUtilization"
    resource_label         = null
  }

  requests_policy = {
    target_value           = var.requests_per_target
    predefined_metric_type = "ALBRequestCountPerTarget"
    resource_label         = "${aws_lb.this.arn_suffix}/${aws_lb_target_group.this.arn_suffix}"
  }

  # Its metric is the service's own (work_metric, below).
  work_policy = {
    target_value           = var.work_in_flight_target
    predefined_metric_type = null
    resource_label         = null
  }

  # Each API worker samples the work it has admitted every second; the average over every
  # worker of every task is the load per worker, which falls as tasks are added.
  work_metric = {
    namespace   = var.metrics_namespace
    metric_name = "WorkInFlight"
    dimensions  = local.metrics_dimensions
    statistic   = "Average"
  }
}

resource "aws_appautoscaling_target" "this" {
  count = var.enable_autoscaling ? 1 : 0

  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${local.service.name}"
  min_capacity       = var.min_capacity
  max_capacity       = var.max_capacity

  lifecycle {
    precondition {
      condition     = var.max_capacity >= var.min_capacity
      error_message = "max_capacity must be at least min_capacity."
    }
  }
}

resource "aws_appautoscaling_policy" "this" {
  for_each = var.enable_autoscaling ? local.policies_in_use : {}

  name               = "${var.name}-${each.key}"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[0].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = each.value.target_value
    scale_in_cooldown  = var.scale_in_cooldown
    scale_out_cooldown = var.scale_out_cooldown

    dynamic "predefined_metric_specification" {
      for_each = each.value.predefined_metric_type == null ? [] : [each.value]
      content {
        predefined_metric_type = predefined_metric_specification.value.predefined_metric_type
        resource_label         = predefined_metric_specification.value.resource_label
      }
    }

    dynamic "customized_metric_specification" {
      for_each = each.key == "work" ? [local.work_metric] : []
      content {
        namespace   = customized_metric_specification.value.namespace
        metric_name = customized_metric_specification.value.metric_name
        statistic   = customized_metric_specification.value.statistic

        dynamic "dimensions" {
          for_each = customized_metric_specification.value.dimensions
          content {
            name  = dimensions.key
            value = dimensions.value
          }
        }
      }
    }
  }

  lifecycle {
    precondition {
      condition     = var.scale_out_cooldown >= local.time_to_serve_s
      error_message = "scale_out_cooldown must be at least a new task's time to serve (task_ready_seconds plus the passing health checks, ${local.time_to_serve_s} s): a shorter one adds tasks again before the first new one takes traffic."
    }
    precondition {
      condition     = each.key != "work" || local.admission_capacity == 0 || var.work_in_flight_target < local.admission_capacity
      error_message = "work_in_flight_target must be below PLS_MAX_INFLIGHT_GENERATIONS (${local.admission_capacity}, the work one API worker admits): above the cap the service sheds load, so the average never reaches the target and autoscaling never adds tasks. Half the cap leaves room for the load that arrives while a new task starts."
    }
  }

  # The request metric exists only once the target group serves through a listener.
  depends_on = [aws_lb_listener.http, aws_lb_listener.https]
}
