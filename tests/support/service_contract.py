"""What the image, its Dockerfile template and the Terraform module rely on from the service:
BentoML's own port and readiness probe (not settings of ours). Tests check each of them uses these."""

SERVICE_PORT = 3000
HEALTH_PATH = "/readyz"
