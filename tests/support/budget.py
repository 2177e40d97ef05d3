"""How many generated cases the property-based (hypothesis) and fuzz (schemathesis) tests try.

`default` suits every commit's run; `full` is for a nightly or release run:
    scripts/test.sh --budget=full        (or PLS_TEST_BUDGET=full scripts/test.sh)
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Budget:
    hypothesis_examples: int         # per property-based test
    schemathesis_text_examples: int  # per text endpoint (/classify, /evaluate), every kind of case
    schemathesis_generation_examples: int  # per generation endpoint and mode (positive, negative)


BUDGETS = {
    "default": Budget(hypothesis_examples=150, schemathesis_text_examples=200, schemathesis_generation_examples=100),
    "full": Budget(hypothesis_examples=1500, schemathesis_text_examples=1000, schemathesis_generation_examples=500),
}
