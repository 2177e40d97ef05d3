################################################################################
# Target tracking on CPU and on ALB requests per task. Whichever asks for more tasks
# wins; scale-in is slow because a new task needs minutes to load the model.
# Each policy is `<name>-<key>`; moved.tf maps the policies' earlier addresses here.
################################################################################

locals {
  scaling_policies = {
    cpu = {
      target_value           = var.cpu_target_utilization
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
      resource_label         = null
    }
    requests = {
      target_value           = var.requests_per_target
      predefined_metric_type = "ALBRequestCountPerTarget"
      resource_label         = "${aws_lb.this.arn_suffix}/${aws_lb_target_group.this.arn_suffix}"
    }
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
  for_each = var.enable_autoscaling ? local.scaling_policies : {}

  name               = "${var.name}-${each.key}"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = aws_appautoscaling_target.this[0].service_namespace
  scalable_dimension = aws_appautoscaling_target.this[0].scalable_dimension
  resource_id        = aws_appautoscaling_target.this[0].resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = each.value.target_value
    scale_in_cooldown  = var.scale_in_cooldown
    scale_out_cooldown = var.scale_out_cooldown

    predefined_metric_specification {
      predefined_metric_type = each.value.predefined_metric_type
      resource_label         = each.value.resource_label
    }
  }

  lifecycle {
    precondition {
      condition     = var.scale_out_cooldown >= local.time_to_serve_s
      error_message = "scale_out_cooldown must be at least a new task's time to serve (task_ready_seconds plus the passing health checks, ${local.time_to_serve_s} s): a shorter one adds tasks again before the first new one takes traffic."
    }
  }

  # The request metric exists only once the target group serves through a listener.
  depends_on = [aws_lb_listener.http, aws_lb_listener.https]
}
