"""Plain-Python domain logic for the PLS service: no BentoML, no torch at import time.

Chunking, readability and evaluation metrics, request/response schemas, the model-folder
layout and the service configuration live here so they can be tested fast and read easily.
"""
