"""The PLS service with simplifier backends that fail on any batch holding the word POISON,
as a bad input or a device error would: the session's shared test server (tests/conftest.py).

Each BentoML worker process imports this module, so the simplifier's worker builds the
faulty backend too, whichever PLS_SIMPLIFIER_BACKEND picks.
"""

import runners.ct2_backend as ct2_module
import runners.transformers_backend as transformers_module


def poisoned(backend_class):
    class PoisonedBackend(backend_class):
        def generate(self, texts, max_new_tokens, num_beams):
            if any("POISON" in text for text in texts):
                raise RuntimeError("injected failure for a POISON text")
            return super().generate(texts, max_new_tokens, num_beams)

    return PoisonedBackend


transformers_module.TransformersBackend = poisoned(transformers_module.TransformersBackend)
ct2_module.CTranslate2Backend = poisoned(ct2_module.CTranslate2Backend)

from service import PLSService  # noqa: E402,F401  (the service bentoml serves)
