################################################################################
# Alarms: errors users see, no healthy task at all, tasks the ALB considers unhealthy,
# CPU near saturation. Missing data (no traffic) counts as fine, so an idle service does
# not alarm, except for the healthy-task count, whose absence means nothing serves.
# Each alarm is `<name>-<key with dashes>`; the keys are the resource names of the
# alarms before they were made from this map (moved.tf).
# With emf_metrics the two 5xx counts give way to the failure alarm on the service's own
# metrics (service_alarms.tf): the targets' 5xx include the 503s that shed load by design.
################################################################################

locals {
  alb_dimensions          = { LoadBalancer = aws_lb.this.arn_suffix }
  target_group_dimensions = { LoadBalancer = aws_lb.this.arn_suffix, TargetGroup = aws_lb_target_group.this.arn_suffix }
  service_dimensions      = { ClusterName = aws_ecs_cluster.this.name, ServiceName = local.service.name }

  # The ALB's own 5xx and the service's are counted alike.
  count_of_5xx = {
    namespace           = "AWS/ApplicationELB"
    statistic           = "Sum"
    period              = 300
    evaluation_periods  = 1
    comparison_operator = "GreaterThanOrEqualToThreshold"
    threshold           = var.alarm_5xx_threshold
    treat_missing_data  = "notBreaching"
  }

  # The alarms made from the map beside the service's own (emf_metrics); without those,
  # all of traffic_alarms, the two 5xx counts included.
  alarms = {
    no_healthy_hosts = local.traffic_alarms.no_healthy_hosts
    unhealthy_hosts  = local.traffic_alarms.unhealthy_hosts
    high_cpu         = local.traffic_alarms.high_cpu
  }

  traffic_alarms = {
    alb_5xx = merge(local.count_of_5xx, {
      description = "The ALB itself answered 5xx (502/503/504: no healthy task, task crashed or timed out)."
      metric_name = "HTTPCode_ELB_5XX_Count"
      dimensions  = local.alb_dimensions
    })
    target_5xx = merge(local.count_of_5xx, {
      description = "The service answered 5xx (model errors, overload 503s, request timeouts)."
      metric_name = "HTTPCode_Target_5XX_Count"
      dimensions  = local.target_group_dimensions
    })
    no_healthy_hosts = {
      description         = "No task passes the ${local.health_check_path} health check: every request gets a 503 from the ALB."
      namespace           = "AWS/ApplicationELB"
      metric_name         = "HealthyHostCount"
      dimensions          = local.target_group_dimensions
      statistic           = "Minimum"
      period              = 60
      evaluation_periods  = 2
      comparison_operator = "LessThanThreshold"
      threshold           = 1
      # No data points means no target reports healthy (or none is registered): that is the
      # outage this alarm exists for.
      treat_missing_data = "breaching"
    }
    unhealthy_hosts = {
      description         = "At least one task has failed the ${local.health_check_path} health check for 3 minutes."
      namespace           = "AWS/ApplicationELB"
      metric_name         = "UnHealthyHostCount"
      dimensions          = local.target_group_dimensions
      statistic           = "Maximum"
      period              = 60
      evaluation_periods  = 3
      comparison_operator = "GreaterThanThreshold"
      threshold           = 0
      treat_missing_data  = "notBreaching"
    }
    high_cpu = {
      description         = "Service CPU has stayed high for 15 minutes: autoscaling is at max_capacity or too slow."
      namespace           = "AWS/ECS"
      metric_name         = "CPUUtilization"
      dimensions          = local.service_dimensions
      statistic           = "Average"
      period              = 300
      evaluation_periods  = 3
      comparison_operator = "GreaterThanThreshold"
      threshold           = var.alarm_cpu_threshold
      treat_missing_data  = "notBreaching"
    }
  }
}

resource "aws_cloudwatch_metric_alarm" "this" {
  for_each = var.emf_metrics ? local.alarms : local.traffic_alarms

  alarm_name          = "${var.name}-${replace(each.key, "_", "-")}"
  alarm_description   = each.value.description
  namespace           = each.value.namespace
  metric_name         = each.value.metric_name
  dimensions          = each.value.dimensions
  statistic           = each.value.statistic
  period              = each.value.period
  evaluation_periods  = each.value.evaluation_periods
  comparison_operator = each.value.comparison_operator
  threshold           = each.value.threshold
  treat_missing_data  = each.value.treat_missing_data
  alarm_actions       = var.alarm_actions
  ok_actions          = var.alarm_actions
}
