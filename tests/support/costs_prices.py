"""The dated price table the cost calculator (tests/support/costs.py) prices the Terraform module
with: docs/prices-us-east-1.json, each price with its unit and source."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from tests.support.processes import REPO

PRICES_FILE = REPO / "docs" / "prices-us-east-1.json"


class MissingPrice(KeyError):
    """The price table lacks a price the calculator needs."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Prices:
    region: str
    taken: date
    hours_per_month: int
    entries: dict[str, dict]
    source: Path = PRICES_FILE

    def usd(self, key: str) -> float:
        if key not in self.entries:
            raise MissingPrice(f"{self.source.name} has no price {key!r}: add it with its unit and source")
        return float(self.entries[key]["usd"])

    def hourly_month(self, key: str) -> float:
        """An hourly price over a month of hours_per_month hours."""
        return self.usd(key) * self.hours_per_month


def load_prices(path: Path = PRICES_FILE) -> Prices:
    data = json.loads(path.read_text())
    return Prices(region=data["region"], taken=date.fromisoformat(data["taken"]),
                  hours_per_month=int(data["hours_per_month"]), entries=dict(data["prices"]), source=path)
