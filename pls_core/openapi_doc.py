"""Make BentoML's generated OpenAPI document (/docs.json) describe what the service really sends.

BentoML 1.4's generator drops `null` from optional fields (a text with no words has a null
reading ease), types the 400 body's `detail` as a string (it is pydantic's list of errors), and
cannot know about the answers of pls_core/http_guard.py (401, 413, 415) or of overload (503). A client
generated from the uncorrected document rejects valid answers; schemathesis finds each of these.
The request and response schemas are taken from the pydantic models themselves.
"""

from __future__ import annotations

import copy
from typing import Any

REF_TEMPLATE = "#/components/schemas/{model}"
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "string", "title": "Message"}},
}
# pydantic's validation errors (a list of objects) or BentoML's own message (a string).
DETAIL_SCHEMA = {
    "title": "Error Detail",
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "object"}}],
}
EXTRA_ERRORS = {
    "413": "Request body larger than PLS_MAX_BODY_BYTES",
    "415": "The body was not sent as Content-Type: application/json (the one accepted)",
    "429": "Too many requests: retry after the Retry-After header's seconds",
    "503": "Overloaded or a model worker is restarting: retry after the Retry-After header's seconds",
    "504": "The request took longer than PLS_REQUEST_TIMEOUT_S",
}


def _model_schema(model: type, components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF_TEMPLATE)
    components.update(schema.pop("$defs", {}))
    return schema


def amend_openapi(spec: dict[str, Any], apis: dict[str, tuple[type, type]], keys_required: bool) -> dict[str, Any]:
    """A corrected copy of `spec`; `apis` maps each API route to its (input, output) pydantic models."""
    spec = copy.deepcopy(spec)
    components = spec.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    for name in ("InvalidArgument", "NotFound", "InternalServerError"):
        if name in schemas:
            schemas[name].setdefault("properties", {})["detail"] = DETAIL_SCHEMA
    schemas["Error"] = ERROR_SCHEMA
    error_ref = {"application/json": {"schema": {"$ref": REF_TEMPLATE.format(model="Error")}}}
    if keys_required:
        components.setdefault("securitySchemes", {}).update({
            "bearerKey": {"type": "http", "scheme": "bearer"},
            "headerKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        })
    for route, (input_model, output_model) in apis.items():
        operation = spec.get("paths", {}).get(route, {}).get("post")
        if operation is None:
            continue
        operation["requestBody"]["content"]["application/json"]["schema"] = _model_schema(input_model, schemas)
        operation["responses"]["200"]["content"]["application/json"]["schema"] = _model_schema(output_model, schemas)
        for status, description in EXTRA_ERRORS.items():
            operation["responses"][status] = {"description": description, "content": error_ref}
        if keys_required:
            operation["responses"]["401"] = {"description": "Missing or invalid API key", "content": error_ref}
            operation["security"] = [{"bearerKey": []}, {"headerKey": []}]
    return spec


def service_models(service: Any) -> dict[str, tuple[type, type]]:
    """Route -> (input, output) pydantic models of a BentoML service's APIs."""
    return {api.route: (api.input_spec, api.output_spec) for api in service.apis.values()}
