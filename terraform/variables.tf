################################################################################
# General
################################################################################

variable "name" {
  description = "Name of the service; prefixes every resource name (ECR repository, cluster, service, ALB, log group)."
  type        = string
  default     = "pls-service"

  validation {
    # The ALB and target group names are capped at 32 characters; keep room for suffixes.
    condition     = can(regex("^[a-z][a-z0-9-]{1,22}[a-z0-9]$", var.name))
    error_message = "name must be 3-24 characters of lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like an AWS region name, e.g. us-east-1."
  }
}

variable "tags" {
  description = "Extra tags applied to every resource (merged over the module's Service/ManagedBy tags)."
  type        = map(string)
  default     = {}
}

################################################################################
# Network
################################################################################

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.40.0.0/16"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0)) && tonumber(split("/", var.vpc_cidr)[1]) >= 16 && tonumber(split("/", var.vpc_cidr)[1]) <= 24
    error_message = "vpc_cidr must be a valid IPv4 CIDR block between /16 and /24."
  }
}

variable "public_subnet_cidrs" {
  description = "CIDR blocks of the public subnets (ALB, NAT gateway), one per availability zone, inside vpc_cidr."
  type        = list(string)
  default     = ["10.40.0.0/24", "10.40.1.0/24"]

  validation {
    condition     = length(var.public_subnet_cidrs) >= 2 && alltrue([for c in var.public_subnet_cidrs : can(cidrhost(c, 0))])
    error_message = "public_subnet_cidrs needs at least two valid IPv4 CIDR blocks (an ALB spans two availability zones)."
  }
}

variable "private_subnet_cidrs" {
  description = "CIDR blocks of the private subnets (Fargate tasks, interface endpoints), one per availability zone, inside vpc_cidr."
  type        = list(string)
  default     = ["10.40.10.0/24", "10.40.11.0/24"]

  validation {
    condition     = length(var.private_subnet_cidrs) >= 2 && alltrue([for c in var.private_subnet_cidrs : can(cidrhost(c, 0))])
    error_message = "private_subnet_cidrs needs at least two valid IPv4 CIDR blocks."
  }
}

variable "availability_zones" {
  description = "Availability zones for the subnets, in subnet order. Empty: the first zones the region reports as available."
  type        = list(string)
  default     = []
}

variable "enable_nat_gateway" {
  description = "Create one NAT gateway so tasks can reach the internet. Not needed to pull images or ship logs while enable_vpc_endpoints is true."
  type        = bool
  default     = false
}

variable "enable_vpc_endpoints" {
  description = "Create interface endpoints for ECR (api, dkr) and CloudWatch Logs so private tasks work without a NAT gateway. The S3 gateway endpoint (free) is always created."
  type        = bool
  default     = true
}

variable "enable_flow_logs" {
  description = "Record VPC flow logs (rejected and accepted traffic) in CloudWatch Logs."
  type        = bool
  default     = true
}

################################################################################
# Load balancer
################################################################################

variable "allowed_ingress_cidrs" {
  description = "IPv4 CIDR blocks allowed to reach the ALB on ports 80 and 443."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.allowed_ingress_cidrs) > 0 && alltrue([for c in var.allowed_ingress_cidrs : can(cidrhost(c, 0))])
    error_message = "allowed_ingress_cidrs needs at least one valid IPv4 CIDR block."
  }
}

variable "certificate_arn" {
  description = "ACM certificate ARN for the HTTPS listener. When set, port 80 redirects to 443; when null, port 80 forwards to the service."
  type        = string
  default     = null

  validation {
    condition     = var.certificate_arn == null || can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/.+$", var.certificate_arn))
    error_message = "certificate_arn must be null or an ACM certificate ARN."
  }
}

variable "allow_plain_http" {
  description = "Accept plain HTTP from the internet: without it, allowed_ingress_cidrs containing 0.0.0.0/0 requires certificate_arn. Requests carry medical text; set it only for trials with made-up text."
  type        = bool
  default     = false
}

variable "allow_anonymous_api" {
  description = "Accept an API anyone on the internet may call without a key: without it, allowed_ingress_cidrs containing 0.0.0.0/0 requires api_keys_secret_arn or a WAF (waf_rate_limit, waf_web_acl_arn). Set it only for a public demo."
  type        = bool
  default     = false
}

variable "ssl_policy" {
  description = "ALB security policy of the HTTPS listener. Only TLS 1.2+ policies are accepted."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = can(regex("^ELBSecurityPolicy-(TLS13-1-[23]|TLS-1-2|FS-1-2)", var.ssl_policy))
    error_message = "ssl_policy must be a TLS 1.2+ policy (ELBSecurityPolicy-TLS13-1-2-*, -TLS13-1-3-*, -TLS-1-2-* or -FS-1-2-*)."
  }
}

variable "alb_idle_timeout" {
  description = "Seconds the ALB keeps an idle connection open. Must exceed the service's request timeout (PLS_REQUEST_TIMEOUT_S) so slow generations are not cut at the load balancer."
  type        = number
  default     = 180

  validation {
    condition     = var.alb_idle_timeout >= 1 && var.alb_idle_timeout <= 4000
    error_message = "alb_idle_timeout must be between 1 and 4000 seconds."
  }
}

variable "server_keep_alive_timeout" {
  description = "Seconds the service (bentoml serve --timeout-keep-alive) keeps an idle client connection open. Must exceed alb_idle_timeout: the ALB reuses idle connections, and one the server closed first turns the next request into a 502. BentoML's default is 5."
  type        = number
  default     = 185

  validation {
    condition     = var.server_keep_alive_timeout >= 1 && var.server_keep_alive_timeout <= 4100 && floor(var.server_keep_alive_timeout) == var.server_keep_alive_timeout
    error_message = "server_keep_alive_timeout must be a whole number of seconds between 1 and 4100."
  }
}

variable "alb_deletion_protection" {
  description = "Protect the ALB from deletion. scripts/deploy/deploy.sh destroy turns it off before destroying."
  type        = bool
  default     = true
}

variable "alb_access_logs_bucket" {
  description = "Existing S3 bucket for ALB access logs (its policy must allow the region's ELB log delivery). Null disables access logs."
  type        = string
  default     = null
}

variable "alb_access_logs_prefix" {
  description = "Key prefix of the ALB access logs in alb_access_logs_bucket."
  type        = string
  default     = "alb"
}

variable "waf_web_acl_arn" {
  description = "Existing regional WAFv2 web ACL to associate with the ALB. Null: no WAF."
  type        = string
  default     = null
}

variable "deregistration_delay" {
  description = "Seconds the target group lets in-flight requests finish on a deregistering task. Keep it above PLS_REQUEST_TIMEOUT_S."
  type        = number
  default     = 130

  validation {
    condition     = var.deregistration_delay >= 0 && var.deregistration_delay <= 3600
    error_message = "deregistration_delay must be between 0 and 3600 seconds."
  }
}

################################################################################
# Container registry
################################################################################

variable "ecr_keep_images" {
  description = "Number of most recent images the ECR lifecycle policy keeps; older ones expire."
  type        = number
  default     = 20

  validation {
    condition     = var.ecr_keep_images >= 1 && var.ecr_keep_images <= 1000 && floor(var.ecr_keep_images) == var.ecr_keep_images
    error_message = "ecr_keep_images must be a whole number between 1 and 1000."
  }
}

variable "ecr_force_delete" {
  description = "Let terraform destroy delete the ECR repository while it still holds images. scripts/deploy/deploy.sh destroy turns it on before destroying."
  type        = bool
  default     = false
}

################################################################################
# Task and service
################################################################################

variable "image_tag" {
  description = "Tag of the service image in the ECR repository: the bento version (scripts/deploy/deploy.sh passes it)."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag))
    error_message = "image_tag must be a valid Docker tag (letters, digits, _ . -, at most 128 characters)."
  }
}

variable "task_size" {
  description = "Fargate task CPU units and memory (MiB). The pair must be one Fargate offers; 2048/4096 (2 vCPU, 4 GB) fits the T5 simplifier on CPU."
  type = object({
    cpu    = number
    memory = number
  })
  default = {
    cpu    = 2048
    memory = 4096
  }

  validation {
    # Fargate's valid CPU/memory combinations (Linux).
    condition = contains(lookup({
      "256"   = [512, 1024, 2048]
      "512"   = [for gb in range(1, 5) : gb * 1024]
      "1024"  = [for gb in range(2, 9) : gb * 1024]
      "2048"  = [for gb in range(4, 17) : gb * 1024]
      "4096"  = [for gb in range(8, 31) : gb * 1024]
      "8192"  = [for gb in range(16, 61, 4) : gb * 1024]
      "16384" = [for gb in range(32, 121, 8) : gb * 1024]
    }, tostring(var.task_size.cpu), []), var.task_size.memory)
    error_message = "task_size is not a Fargate CPU/memory pair: e.g. 1024 with 2048-8192, 2048 with 4096-16384, 4096 with 8192-30720 (MiB, in 1024 steps)."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of the task; must match the image (bentoml containerize builds for the build machine's)."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "service_environment" {
  description = "PLS_* settings to override in the container (see docs/configuration.md). Empty by default: the service's own defaults (pls_core/config.py) and the image's (bentofile.yaml) suit a 2 vCPU / 4 GB task. Give each override a comment saying why; PLS_REQUEST_TIMEOUT_S here also bounds alb_idle_timeout and deregistration_delay."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.service_environment) : can(regex("^PLS_[A-Z0-9_]+$", k))])
    error_message = "service_environment keys must be PLS_* settings of the service."
  }

  validation {
    # The dashboard, the alarms and the scaling policy read the metrics where these variables say.
    condition     = length(setintersection(keys(var.service_environment), ["PLS_EMF_METRICS", "PLS_METRICS_NAMESPACE", "PLS_METRICS_SERVICE", "PLS_OTLP_ENDPOINT"])) == 0
    error_message = "service_environment must not set PLS_EMF_METRICS, PLS_METRICS_NAMESPACE, PLS_METRICS_SERVICE or PLS_OTLP_ENDPOINT: set the variables emf_metrics, metrics_namespace and otlp_endpoint instead (the metrics' Service dimension is name), so the dashboard, alarms and scaling read what the service writes."
  }
}

variable "health_check_grace_period_seconds" {
  description = "Seconds ECS ignores failing ALB health checks after a task starts: covers loading the T5 model on CPU."
  type        = number
  default     = 300

  validation {
    condition     = var.health_check_grace_period_seconds >= 0 && var.health_check_grace_period_seconds <= 3600
    error_message = "health_check_grace_period_seconds must be between 0 and 3600."
  }
}

variable "container_start_period" {
  description = "Seconds the container health check gives the service to load its models before failures count (Fargate allows up to 300)."
  type        = number
  default     = 240

  validation {
    condition     = var.container_start_period >= 0 && var.container_start_period <= 300
    error_message = "container_start_period must be between 0 and 300 seconds."
  }
}

variable "container_stop_timeout" {
  description = "Seconds between SIGTERM and SIGKILL when a task stops, so the runner workers shut down cleanly (Fargate caps it at 120)."
  type        = number
  default     = 120

  validation {
    condition     = var.container_stop_timeout >= 2 && var.container_stop_timeout <= 120
    error_message = "container_stop_timeout must be between 2 and 120 seconds."
  }
}

variable "enable_container_insights" {
  description = "Turn on CloudWatch Container Insights for the cluster (per-task metrics; billed as custom metrics)."
  type        = bool
  default     = true
}

variable "log_retention_days" {
  description = "Days CloudWatch keeps the service's and the VPC flow logs."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, ...)."
  }
}

variable "kms_key_deletion_window_days" {
  description = "Waiting period before the log encryption key is deleted after destroy."
  type        = number
  default     = 30

  validation {
    condition     = var.kms_key_deletion_window_days >= 7 && var.kms_key_deletion_window_days <= 30
    error_message = "kms_key_deletion_window_days must be between 7 and 30."
  }
}

################################################################################
# Autoscaling
################################################################################

variable "enable_autoscaling" {
  description = "Scale the service between min_capacity and max_capacity: on the model's work in flight per task (work_in_flight_target) and CPU with emf_metrics, on ALB requests per task (requests_per_target) and CPU without. When false the service runs min_capacity tasks."
  type        = bool
  default     = true
}

variable "min_capacity" {
  description = "Fewest tasks the service runs (also the initial desired count)."
  type        = number
  default     = 1

  validation {
    condition     = var.min_capacity >= 1 && var.min_capacity <= 100 && floor(var.min_capacity) == var.min_capacity
    error_message = "min_capacity must be a whole number between 1 and 100."
  }
}

variable "max_capacity" {
  description = "Most tasks autoscaling may run; must be at least min_capacity."
  type        = number
  default     = 4

  validation {
    condition     = var.max_capacity >= 1 && var.max_capacity <= 100 && floor(var.max_capacity) == var.max_capacity
    error_message = "max_capacity must be a whole number between 1 and 100."
  }
}

variable "cpu_target_utilization" {
  description = "Average service CPU (percent) that target tracking holds."
  type        = number
  default     = 60

  validation {
    condition     = var.cpu_target_utilization >= 10 && var.cpu_target_utilization <= 95
    error_message = "cpu_target_utilization must be between 10 and 95 percent."
  }
}

variable "requests_per_target" {
  description = "Used only with emf_metrics = false (without the service's metrics): ALB requests per task per minute that target tracking holds, 0.7 x 60 x the requests/s one task answers within the SLO. The default comes from the locust step profile on the demo model (capacity at least 51.58 req/s at 32 users, mixed classify/generate; docs/load-testing.md); re-derive it for your model with `python -m loadtests.run --profile step`."
  type        = number
  default     = 2166

  validation {
    condition     = var.requests_per_target >= 1 && var.requests_per_target <= 100000
    error_message = "requests_per_target must be between 1 and 100000."
  }
}

variable "work_in_flight_target" {
  description = "Standard generations in flight per API worker (the service's WorkInFlight metric, averaged over the tasks) that target tracking holds, with emf_metrics. Half the admission cap PLS_MAX_INFLIGHT_GENERATIONS (32 by default): the other half absorbs the load that arrives while a new task starts (task_ready_seconds and the health checks), so the tasks scale out before they shed. Must stay below the cap; docs/deploy.md, Scaling, has the derivation."
  type        = number
  default     = 16

  validation {
    condition     = var.work_in_flight_target >= 1 && var.work_in_flight_target <= 10000
    error_message = "work_in_flight_target must be between 1 and 10000 standard generations per API worker (half PLS_MAX_INFLIGHT_GENERATIONS, 16 with the service's default cap of 32)."
  }
}

variable "scale_in_cooldown" {
  description = "Seconds after a scale-in before another scale-in; long, because a new task needs minutes to load the model."
  type        = number
  default     = 300

  validation {
    condition     = var.scale_in_cooldown >= 0 && var.scale_in_cooldown <= 3600
    error_message = "scale_in_cooldown must be between 0 and 3600 seconds."
  }
}

variable "task_ready_seconds" {
  description = "Seconds a new task needs from launch until its health check passes: Fargate placement, pulling the ~1.9 GB image, loading the models. See docs/deploy.md (Scaling) for the measurement; raise it for a bigger model."
  type        = number
  default     = 120

  validation {
    condition     = var.task_ready_seconds >= 0 && var.task_ready_seconds <= 3600
    error_message = "task_ready_seconds must be between 0 and 3600."
  }
}

variable "scale_out_cooldown" {
  description = "Seconds after a scale-out before another scale-out. At least a new task's time to serve (task_ready_seconds plus two passing ALB health checks): a shorter cooldown adds tasks again while the first new one is still loading."
  type        = number
  default     = 180

  validation {
    condition     = var.scale_out_cooldown >= 0 && var.scale_out_cooldown <= 3600
    error_message = "scale_out_cooldown must be between 0 and 3600 seconds."
  }
}

################################################################################
# Observability
################################################################################

variable "emf_metrics" {
  description = "The service writes its own metrics (requests by outcome, generation latency, queue wait, batch size, work in flight, low-confidence summaries) as CloudWatch Embedded Metric Format records to its log (PLS_EMF_METRICS): the dashboard shows them, the failure, load-shedding and low-confidence alarms and the work-in-flight scaling policy read them. False: the ALB's and ECS's metrics only, the 5xx alarms count every 5xx, and the tasks scale on ALB requests per task."
  type        = bool
  default     = true
}

variable "metrics_namespace" {
  description = "CloudWatch namespace of the service's own metrics (PLS_METRICS_NAMESPACE), with emf_metrics. Their Service dimension is name."
  type        = string
  default     = "PLS/Service"

  validation {
    # CloudWatch's rules for a namespace; AWS/ is reserved for AWS's own.
    condition     = can(regex("^[0-9A-Za-z.#:_/ -]{1,255}$", var.metrics_namespace)) && trimspace(var.metrics_namespace) != "" && !startswith(var.metrics_namespace, "AWS/")
    error_message = "metrics_namespace must be 1-255 characters of letters, digits and . - _ / # : or spaces, and must not start with AWS/ (reserved for AWS's own metrics), e.g. PLS/Service."
  }
}

variable "otlp_endpoint" {
  description = "OTLP/HTTP endpoint that receives the service's OpenTelemetry traces (PLS_OTLP_ENDPOINT), e.g. http://localhost:4318/v1/traces for an AWS Distro for OpenTelemetry collector sidecar that forwards them to X-Ray (docs/deploy.md, Tracing). Empty: tracing off."
  type        = string
  default     = ""

  validation {
    condition     = var.otlp_endpoint == "" || can(regex("^https?://[^\\s/]+(/\\S*)?$", var.otlp_endpoint))
    error_message = "otlp_endpoint must be empty (tracing off) or an http:// or https:// URL, e.g. http://localhost:4318/v1/traces."
  }
}

################################################################################
# Alarms
################################################################################

variable "alarm_actions" {
  description = "ARNs (e.g. SNS topics) notified when an alarm fires and when it recovers. Empty: alarms only show in the console."
  type        = list(string)
  default     = []
}

variable "alarm_5xx_threshold" {
  description = "Failed requests per 5 minutes that raise the failure alarm: with emf_metrics, the service's 5xx and runner-unavailable 503s plus the ALB's own 5xx (a 503 that sheds load is not a failure: alarm_shed_percent); without, each of the ALB's and the targets' 5xx counts."
  type        = number
  default     = 10

  validation {
    condition     = var.alarm_5xx_threshold >= 1
    error_message = "alarm_5xx_threshold must be at least 1."
  }
}

variable "alarm_cpu_threshold" {
  description = "Average service CPU (percent) over 15 minutes that raises the high-CPU alarm."
  type        = number
  default     = 85

  validation {
    condition     = var.alarm_cpu_threshold > 0 && var.alarm_cpu_threshold <= 100
    error_message = "alarm_cpu_threshold must be between 1 and 100 percent."
  }
}

variable "alarm_shed_percent" {
  description = "Percent of the requests the service refuses to shed load (admission cap, latency budget), with emf_metrics, that raises the load-shedding alarm when it lasts 15 minutes: the tasks are at capacity and more are needed."
  type        = number
  default     = 5

  validation {
    condition     = var.alarm_shed_percent > 0 && var.alarm_shed_percent <= 100
    error_message = "alarm_shed_percent must be above 0 and at most 100 percent of the requests."
  }
}

variable "alarm_low_confidence_percent" {
  description = "Percent of summaries marked low_confidence, with emf_metrics, that raises the model-drift warning when it lasts 3 hours. The calibration flags about 3 % of in-domain sentences (docs/models.md); a summary is marked when any of its chunks is."
  type        = number
  default     = 20

  validation {
    condition     = var.alarm_low_confidence_percent > 0 && var.alarm_low_confidence_percent < 100
    error_message = "alarm_low_confidence_percent must be above 0 and below 100 percent of the summaries."
  }
}

variable "alarm_low_confidence_min_summaries" {
  description = "Fewest summaries in an hour for that hour to count towards the model-drift warning: fewer, and the hour counts as fine, so a handful of odd texts does not raise it."
  type        = number
  default     = 50

  validation {
    condition     = var.alarm_low_confidence_min_summaries >= 1 && floor(var.alarm_low_confidence_min_summaries) == var.alarm_low_confidence_min_summaries
    error_message = "alarm_low_confidence_min_summaries must be a whole number of summaries, at least 1."
  }
}
