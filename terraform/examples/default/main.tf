# The module as a production stack runs it: HTTPS and API keys, private tasks without a NAT
# gateway, two tasks (one per availability zone) scaling to four. The inputs not set here keep
# the module's defaults; every input is in terraform/README.md.

module "pls" {
  source = "../.."
  # In your own root module: a local path to terraform/, or a Git source pinned to a tag
  # ("git::<repository URL>//terraform?ref=<tag>").

  name   = "pls-service"
  region = var.region

  tags = {
    Team        = "ml-platform"
    Environment = "production"
  }

  image_tag = var.image_tag

  # Network: the interface endpoints let private tasks pull from ECR and ship logs without a
  # NAT gateway.
  vpc_cidr             = "10.40.0.0/16"
  public_subnet_cidrs  = ["10.40.0.0/24", "10.40.1.0/24"]
  private_subnet_cidrs = ["10.40.10.0/24", "10.40.11.0/24"]
  enable_nat_gateway   = false
  enable_vpc_endpoints = true

  # Who may call the API: everyone, over HTTPS, with a key.
  allowed_ingress_cidrs = ["0.0.0.0/0"]
  certificate_arn       = var.certificate_arn
  api_keys_secret_arn   = var.api_keys_secret_arn

  # 2 vCPU / 4 GB runs the T5 simplifier on CPU.
  task_size = {
    cpu    = 2048
    memory = 4096
  }

  # PLS_* settings that differ from the service's defaults, each with its reason. The defaults
  # suit the task above; with task_size = { cpu = 4096, memory = 8192 }, for example:
  #   PLS_SIMPLIFIER_WORKERS = "2" # two model copies fit in 8 GB
  service_environment       = {}
  alb_idle_timeout          = 180 # longer than PLS_REQUEST_TIMEOUT_S
  server_keep_alive_timeout = 185 # longer than alb_idle_timeout, so the ALB never reuses a closed connection

  # Two tasks: ECS spreads them over the private subnets' zones, so a replaced task or a zone
  # outage leaves one serving.
  min_capacity           = 2
  max_capacity           = 4
  cpu_target_utilization = 60
  work_in_flight_target  = 16 # half PLS_MAX_INFLIGHT_GENERATIONS (32): scale out before the tasks shed

  # The service's own metrics (dashboard, alarms, the work-in-flight scaling), on by default.
  emf_metrics = true

  log_retention_days = 365
  alarm_actions      = var.alarm_actions
}
