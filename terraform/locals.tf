data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

data "aws_availability_zones" "available" {
  # checkov:skip=CKV_AWS_394:Only the first zones (one per subnet CIDR) are taken, and a zone AWS adds sorts after them; availability_zones pins the zones explicitly when wanted.
  state = "available"

  # Local and Wavelength zones cannot run Fargate tasks or host this ALB.
  filter {
    name   = "zone-type"
    values = ["availability-zone"]
  }
}

locals {
  # Fixed by the service: BentoML's port and readiness probe (tests/support/service_contract.py);
  # tests/unit/test_terraform_static.py keeps these two in step with it.
  container_port    = 3000
  health_check_path = "/readyz"
  # Liveness, for the container health check: a busy task may be slow to say it is ready, and
  # ECS replaces a task whose container check fails; it must fail only when the process is gone.
  liveness_path = "/livez"

  container_name = var.name
  account_id     = data.aws_caller_identity.current.account_id
  partition      = data.aws_partition.current.partition
  # amazonaws.com, or amazonaws.com.cn in the China partition: service principals and
  # endpoint service names follow the partition.
  dns_suffix         = data.aws_partition.current.dns_suffix
  reverse_dns_prefix = data.aws_partition.current.reverse_dns_prefix
  region             = data.aws_region.current.name
  # The console's host in each partition (outputs.tf: the dashboard's address).
  console_hosts = {
    aws        = "console.aws.amazon.com"
    aws-cn     = "console.amazonaws.cn"
    aws-us-gov = "console.amazonaws-us-gov.com"
  }

  azs = length(var.availability_zones) > 0 ? var.availability_zones : slice(
    data.aws_availability_zones.available.names, 0, length(var.public_subnet_cidrs)
  )

  https_enabled = var.certificate_arn != null
  open_to_world = contains(var.allowed_ingress_cidrs, "0.0.0.0/0")

  # The target group's health check: a new task takes traffic after healthy_threshold
  # passing checks, interval seconds apart.
  health_check_interval  = 15
  health_check_threshold = 2
  # From a scale-out decision to a new task serving: launch, image pull and model load
  # (task_ready_seconds), then the passing health checks.
  time_to_serve_s = var.task_ready_seconds + local.health_check_threshold * local.health_check_interval

  # The server behind the ALB keeps idle connections open longer than the ALB does, so the
  # ALB never sends a request on a connection the server has just closed (a 502). BentoML
  # has no configuration key for it (1.4.40): `bentoml serve --timeout-keep-alive`, through
  # the bento image's entrypoint, is the only way in.
  container_command = ["serve", "--timeout-keep-alive", tostring(var.server_keep_alive_timeout)]

  # The service's own request timeout; the ALB idle timeout and the target group's
  # deregistration delay must both outlast it.
  request_timeout_s = tonumber(lookup(var.service_environment, "PLS_REQUEST_TIMEOUT_S", "120"))

  # The service's own metrics and traces, told to the container beside the PLS_* overrides
  # (service_environment may not set these four: variables.tf). With emf_metrics off and no
  # otlp_endpoint the container gets the overrides alone, as before these existed.
  observability_environment = merge(
    var.emf_metrics ? {
      PLS_EMF_METRICS       = "true"
      PLS_METRICS_NAMESPACE = var.metrics_namespace
      PLS_METRICS_SERVICE   = var.name
    } : {},
    var.otlp_endpoint != "" ? { PLS_OTLP_ENDPOINT = var.otlp_endpoint } : {},
  )
  container_environment = merge(var.service_environment, local.observability_environment)
  # Every metric the service writes carries this dimension (pls_core/metric_names.py).
  metrics_dimensions = { Service = var.name }

  # Work one API worker admits before it sheds load with 503s, in standard generations: the
  # service's PLS_MAX_INFLIGHT_GENERATIONS (its default in pls_core/config.py; 0 = no cap). The
  # work-in-flight scaling target must stay below it (autoscaling.tf).
  admission_capacity = tonumber(lookup(var.service_environment, "PLS_MAX_INFLIGHT_GENERATIONS", "32"))

  image = "${aws_ecr_repository.this.repository_url}:${var.image_tag}"

  tags = merge(
    {
      Service   = var.name
      ManagedBy = "terraform"
    },
    var.tags,
  )
}
