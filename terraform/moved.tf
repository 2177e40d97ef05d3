################################################################################
# Addresses the alarms and scaling policies had before they were made from one map each
# (alarms.tf, autoscaling.tf). With these, `terraform plan` on an existing deployment
# moves them in the state instead of destroying and recreating them.
# tests/e2e/test_deploy.py applies the earlier files and checks that every old address is
# covered.
################################################################################

moved {
  from = aws_cloudwatch_metric_alarm.alb_5xx
  to   = aws_cloudwatch_metric_alarm.this["alb_5xx"]
}

moved {
  from = aws_cloudwatch_metric_alarm.target_5xx
  to   = aws_cloudwatch_metric_alarm.this["target_5xx"]
}

moved {
  from = aws_cloudwatch_metric_alarm.no_healthy_hosts
  to   = aws_cloudwatch_metric_alarm.this["no_healthy_hosts"]
}

moved {
  from = aws_cloudwatch_metric_alarm.unhealthy_hosts
  to   = aws_cloudwatch_metric_alarm.this["unhealthy_hosts"]
}

moved {
  from = aws_cloudwatch_metric_alarm.high_cpu
  to   = aws_cloudwatch_metric_alarm.this["high_cpu"]
}

moved {
  from = aws_appautoscaling_policy.cpu[0]
  to   = aws_appautoscaling_policy.this["cpu"]
}

moved {
  from = aws_appautoscaling_policy.requests[0]
  to   = aws_appautoscaling_policy.this["requests"]
}

# The service gained `count` (ecs.tf: one of two services exists, by enable_autoscaling).
moved {
  from = aws_ecs_service.this
  to   = aws_ecs_service.this[0]
}
