"""The step load shape: 1 → 2 → 4 → 8 → 16 → 32 users, each step held for a while.

Loaded next to the locustfile by `python -m loadtests.run --profile step` (a shape class in the
locustfile itself would take over every profile). PLS_STEP_USERS (comma-separated) and
PLS_STEP_HOLD_S change the steps and how long each is held.
"""

from __future__ import annotations

import os

from locust import LoadTestShape

DEFAULT_STEPS = (1, 2, 4, 8, 16, 32)


class StepShape(LoadTestShape):
    steps = tuple(int(n) for n in os.environ.get("PLS_STEP_USERS", ",".join(map(str, DEFAULT_STEPS))).split(","))
    hold_s = float(os.environ.get("PLS_STEP_HOLD_S", "60"))

    def tick(self):
        index = int(self.get_run_time() // self.hold_s)
        if index >= len(self.steps):
            return None
        users = self.steps[index]
        # Spawn a step's new users within a second, so the whole hold runs at that load.
        return users, max(1, users - (self.steps[index - 1] if index else 0))
