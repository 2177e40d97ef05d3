"""The API's routes and their request and response models, as service.py declares them: what the
request guard is given in unit tests that drive it without a server."""

from pls_core.schemas import (
    ClassifyRequest,
    ClassifyResponse,
    EvaluateRequest,
    EvaluateResponse,
    GenerateRequest,
    GenerateResponse,
    GenerateWithMetricsRequest,
    GenerateWithMetricsResponse,
)

API_MODELS = {
    "/generate": (GenerateRequest, GenerateResponse),
    "/classify": (ClassifyRequest, ClassifyResponse),
    "/evaluate": (EvaluateRequest, EvaluateResponse),
    "/generate-with-metrics": (GenerateWithMetricsRequest, GenerateWithMetricsResponse),
}
