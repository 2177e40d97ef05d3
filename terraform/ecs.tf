################################################################################
# Cluster
################################################################################

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = var.enable_container_insights ? "enabled" : "disabled"
  }
}

################################################################################
# Task definition
################################################################################

resource "aws_ecs_task_definition" "this" {
  family                   = var.name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.task_size.cpu
  memory                   = var.task_size.memory
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = aws_iam_role.task.arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  container_definitions = jsonencode([{
    name      = local.container_name
    image     = local.image
    essential = true
    # The image's entrypoint runs `bentoml serve <these options> <bento>`.
    command = local.container_command

    portMappings = [{
      name          = "http"
      containerPort = local.container_port
      hostPort      = local.container_port
      protocol      = "tcp"
    }]

    # Only the overrides (service_environment) and the metrics and tracing settings
    # (locals.tf): the image carries the rest. Sorted so the rendered JSON, and so the plan,
    # does not change with map order.
    environment = [for k in sort(keys(local.container_environment)) : { name = k, value = local.container_environment[k] }]
    # API keys from Secrets Manager (secrets.tf), resolved by ECS at task start: never plain env.
    secrets = local.container_secrets

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "service"
      }
    }

    # The bento image ships Python but not necessarily curl, so the probe uses the standard
    # library. startPeriod covers model loading; failures before it do not count.
    healthCheck = {
      command = [
        "CMD-SHELL",
        "python -c \"import urllib.request; urllib.request.urlopen('http://127.0.0.1:${local.container_port}${local.liveness_path}', timeout=4)\" || exit 1",
      ]
      interval    = 30
      timeout     = 5
      retries     = 3
      startPeriod = var.container_start_period
    }

    # Time for in-flight generations and the runner workers to end after SIGTERM.
    stopTimeout = var.container_stop_timeout

    # An init process reaps the runner worker processes and forwards SIGTERM to them.
    linuxParameters = {
      initProcessEnabled = true
    }
  }])

  lifecycle {
    precondition {
      condition     = var.server_keep_alive_timeout > var.alb_idle_timeout
      error_message = "server_keep_alive_timeout must be greater than alb_idle_timeout: the ALB would send requests on connections the server has already closed (intermittent 502s)."
    }
  }
}

################################################################################
# Service
################################################################################

# One of two services exists, the same but for who owns the task count: `ignore_changes` cannot
# depend on a variable. With autoscaling, Application Auto Scaling owns it after creation (a
# later apply must not undo a scale-out); without, every apply sets it to min_capacity.
# Switching enable_autoscaling on a running stack replaces the service: docs/deploy.md, "Scaling".

resource "aws_ecs_service" "this" {
  count = var.enable_autoscaling ? 1 : 0

  name             = var.name
  cluster          = aws_ecs_cluster.this.id
  task_definition  = aws_ecs_task_definition.this.arn
  desired_count    = var.min_capacity
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  # Start new tasks before stopping old ones, and roll back on its own when new tasks keep
  # failing (bad image, model that does not load).
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  # The ALB health check fails until the model is loaded; ECS must not kill the task for it.
  health_check_grace_period_seconds = var.health_check_grace_period_seconds

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.this.arn
    container_name   = local.container_name
    container_port   = local.container_port
  }

  enable_ecs_managed_tags = true
  propagate_tags          = "SERVICE"

  # `terraform apply` returns once the deployment has started; scripts/deploy/deploy.sh roll waits
  # for it and reports a circuit-breaker rollback.
  wait_for_steady_state = false

  lifecycle {
    ignore_changes = [desired_count]
  }

  # The target group must be attached to a listener before a service can use it, and the
  # roles must have their policies before the first task starts.
  depends_on = [
    aws_lb_listener.http,
    aws_lb_listener.https,
    aws_iam_role_policy.execution,
    aws_iam_role_policy.read_api_keys,
  ]
}

# The same service, its task count set by Terraform (enable_autoscaling = false).
resource "aws_ecs_service" "fixed_count" {
  count = var.enable_autoscaling ? 0 : 1

  name             = var.name
  cluster          = aws_ecs_cluster.this.id
  task_definition  = aws_ecs_task_definition.this.arn
  desired_count    = var.min_capacity
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  health_check_grace_period_seconds = var.health_check_grace_period_seconds

  network_configuration {
    subnets          = aws_subnet.private[*].id
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.this.arn
    container_name   = local.container_name
    container_port   = local.container_port
  }

  enable_ecs_managed_tags = true
  propagate_tags          = "SERVICE"

  wait_for_steady_state = false

  depends_on = [
    aws_lb_listener.http,
    aws_lb_listener.https,
    aws_iam_role_policy.execution,
    aws_iam_role_policy.read_api_keys,
  ]
}

locals {
  service = one(concat(aws_ecs_service.this, aws_ecs_service.fixed_count))
}
