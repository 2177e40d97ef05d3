"""Model runners: one BentoML service per model, each with an adaptive-batching API."""
