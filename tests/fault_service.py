"""The PLS service with a simplifier backend that fails on any batch holding the word POISON,
as a bad input or a device error would: served by tests/test_failure_isolation.py.

Each BentoML worker process imports this module, so the simplifier's worker builds the
faulty backend too.
"""

import runners.transformers_backend as backend_module

_RealBackend = backend_module.TransformersBackend


class PoisonedBackend(_RealBackend):
    def generate(self, texts, max_new_tokens, num_beams):
        if any("POISON" in text for text in texts):
            raise RuntimeError("injected failure for a POISON text")
        return super().generate(texts, max_new_tokens, num_beams)


backend_module.TransformersBackend = PoisonedBackend

from service import PLSService  # noqa: E402,F401  (the service bentoml serves)
