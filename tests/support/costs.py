"""What the Terraform module costs a month before traffic: the resources it creates, counted from
its files with python-hcl2 (support/terraform.py) for a set of variable values, priced from the
dated table docs/prices-us-east-1.json. `python -m tests.support.costs` prints the Costs table and
totals of docs/deploy.md; tests/unit/test_cost_table.py fails when the page shows anything else.

The calculator in parts: the price table (tests/support/costs_prices.py), the module's resources
for a set of variable values (tests/support/costs_terraform.py), and the monthly charge of each
kind of resource and option (tests/support/costs_pricing.py). The CloudWatch free tier (10
metrics, 10 alarms per account) is left out.
"""

from __future__ import annotations

import textwrap

from tests.support.costs_prices import PRICES_FILE, MissingPrice, Prices, load_prices
from tests.support.costs_pricing import (
    API_KEYS_ARN,
    WAF_RATE_LIMIT,
    Line,
    fargate_task_month,
    lines,
    money,
    monthly,
    option_lines,
    plural,
    task_month,
    unit_price,
)
from tests.support.costs_terraform import Module, Unreadable, settings
from tests.support.processes import REPO
from tests.support.terraform import MODULE

TFVARS_EXAMPLE = MODULE / "terraform.tfvars.example"
COMMAND = ".venv/bin/python -m tests.support.costs"

# The calculator's names, wherever they are defined: tests/unit/test_cost_table.py reads them as `costs.NAME`.
__all__ = ["API_KEYS_ARN", "COMMAND", "PRICES_FILE", "TFVARS_EXAMPLE", "WAF_RATE_LIMIT", "Line", "MissingPrice",
           "Module", "Prices", "Unreadable", "fargate_task_month", "lines", "load_prices", "markdown", "money",
           "monthly", "option_lines", "plural", "settings", "summary", "table_rows", "task_month", "unit_price"]


# --- the table of docs/deploy.md ----------------------------------------------------------------

def table_rows(prices: Prices | None = None) -> list[tuple[str, str]]:
    """(item, monthly) rows of the Costs table in docs/deploy.md: the module defaults, then the options."""
    prices = prices or load_prices()
    values = settings()
    rows = [(line.item, f"≈ {money(line.usd)}{line.suffix}")
            for line in lines(values, prices) + option_lines(values, prices)]
    rows.append(("With traffic and kept images: ALB LCUs, CloudWatch Logs ingestion, ECR storage",
                 f"{unit_price(prices.usd('alb_lcu_hour'))}/LCU-hour, "
                 f"{unit_price(prices.usd('logs_ingested_gb'))}/GB ingested, "
                 f"{unit_price(prices.usd('ecr_storage_gb_month'))}/GB-month stored"))
    return rows


def summary(prices: Prices | None = None) -> str:
    """The lines under the table: both totals, where the prices come from."""
    prices = prices or load_prices()
    defaults, example = settings(), settings(TFVARS_EXAMPLE)
    return (f"In all ≈ {money(monthly(defaults, prices))} a month plus traffic with the module defaults "
            f"({plural(Module(defaults).tasks(), 'task')}), and ≈ {money(monthly(example, prices))} with the "
            f"production example, `{TFVARS_EXAMPLE.relative_to(REPO)}` ({plural(Module(example).tasks(), 'task')}). "
            f"Prices: `{prices.source.relative_to(REPO)}`, {prices.region} on-demand list prices taken "
            f"{prices.taken.isoformat()}, {prices.hours_per_month} hours a month, each with its source. "
            f"`{COMMAND}` prints this table and this paragraph.")


def markdown(prices: Prices | None = None) -> str:
    prices = prices or load_prices()
    table = ["| item | monthly |", "| --- | --- |", *(f"| {item} | {cost} |" for item, cost in table_rows(prices))]
    return "\n".join(table) + "\n\n" + textwrap.fill(summary(prices), width=100, break_on_hyphens=False) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
