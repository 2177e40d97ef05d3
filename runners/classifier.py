"""The TF-IDF + logistic-regression PLS classifier as an adaptive-batching BentoML service."""

from __future__ import annotations

import bentoml
from bentoml.models import BentoModel

from pls_core.config import current, runner_batching
from pls_core.integrity import verify_files
from pls_core.model_layout import CLASSIFIER_FILE, LABEL_PLAIN, VECTORIZER_FILE
from runners.resilience import runner_service_options

CONFIG = current()


@bentoml.service(**runner_service_options("pls-classifier-runner", CONFIG.classifier_workers, CONFIG))
class Classifier:
    model_ref = BentoModel(CONFIG.classifier_tag)

    def __init__(self) -> None:
        import joblib

        folder = self.model_ref.path
        # Unpickling runs code: load only the exact files that were imported.
        verify_files(folder, self.model_ref.info.metadata, [VECTORIZER_FILE, CLASSIFIER_FILE],
                     tag=self.model_ref.tag)
        self.vectorizer = joblib.load(f"{folder}/{VECTORIZER_FILE}")
        self.classifier = joblib.load(f"{folder}/{CLASSIFIER_FILE}")
        self.plain_column = list(self.classifier.classes_).index(LABEL_PLAIN)

    @bentoml.api(**runner_batching(CONFIG))
    def predict_proba(self, texts: list[str]) -> list[float]:
        """Probability that each text is a plain-language summary."""
        probabilities = self.classifier.predict_proba(self.vectorizer.transform(texts))
        return [float(p) for p in probabilities[:, self.plain_column]]

    # async: answers on the event loop, without a prediction, for the API's /health.
    @bentoml.api
    async def status(self) -> dict:
        """The classifier's model tag."""
        return {"model_tag": str(self.model_ref.tag)}
