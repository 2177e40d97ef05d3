"""What the image, its Dockerfile template and the Terraform module rely on from the service:
BentoML's own port, readiness probe and liveness probe (not settings of ours). Tests check each
of them uses these."""

SERVICE_PORT = 3000
HEALTH_PATH = "/readyz"  # ready for traffic: the ALB's target health check
LIVENESS_PATH = "/livez"  # the process is alive: the container health check (ECS replaces on failure)
