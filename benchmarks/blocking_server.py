#!/usr/bin/env python3
"""Variant (d) of the side-by-side benchmark: one blocking `generate` per request.

    python -m benchmarks.blocking_server --model models/t5_base --port 8001

The shape of the users' earlier FastAPI service: an async endpoint that calls transformers'
`generate` directly, so the event loop serves exactly one request at a time and every request
is a batch of one. Only for benchmarks; binds 127.0.0.1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from benchmarks.harness import generated_tokens
from pls_core.model_layout import TASK_PREFIX
from pls_core.resources import torch_threads


def build_app(model_dir: Path) -> Starlette:
    import torch
    from transformers import AutoTokenizer, T5ForConditionalGeneration

    torch.set_num_threads(torch_threads(0, 1))
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = T5ForConditionalGeneration.from_pretrained(model_dir).eval()

    async def generate(request: Request) -> JSONResponse:
        body = await request.json()
        encoded = tokenizer(TASK_PREFIX + body["technical_text"], return_tensors="pt", truncation=True)
        with torch.inference_mode():  # blocks the event loop on purpose: one request at a time
            output = model.generate(**encoded, max_new_tokens=body["max_new_tokens"],
                                    min_new_tokens=body.get("min_new_tokens", 0), num_beams=body["num_beams"])
        return JSONResponse({
            "generated_pls": tokenizer.decode(output[0], skip_special_tokens=True),
            "tokens_output": generated_tokens(output[0, 1:].tolist(), tokenizer.eos_token_id),
        })

    async def ready(request: Request) -> JSONResponse:
        return JSONResponse({"ready": True})

    return Starlette(routes=[Route("/generate", generate, methods=["POST"]),
                             Route("/readyz", ready, methods=["GET"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, required=True, help="a simplifier model folder")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(build_app(args.model), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
