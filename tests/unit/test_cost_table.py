"""The cost table of docs/deploy.md cannot drift: it is computed (tests/support/costs.py) from the
Terraform files and the dated price table docs/prices-us-east-1.json, and compared here with the
page at the page's rounding. The calculator itself is checked on sums done by hand."""

from __future__ import annotations

import re
import textwrap
from dataclasses import replace

import pytest

from tests.support import costs
from tests.support.processes import REPO
from tests.support.terraform import module_locals

HOURS = 730
DEPLOY_PAGE = REPO / "docs" / "deploy.md"
WHERE = 'docs/deploy.md, "## Costs"'


def costs_subsection() -> str:
    page = DEPLOY_PAGE.read_text()
    start = page.index("\n## Costs\n") + 1
    end = re.compile(r"^#{2,3} ", re.M).search(page, start + 1)
    return page[start:end.start() if end else len(page)]


def page_rows() -> list[tuple[str, str]]:
    rows = []
    for line in costs_subsection().splitlines():
        if not line.startswith("|") or re.fullmatch(r"\|[\s|:-]+\|", line.strip()):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if cells != ["item", "monthly"]:
            rows.append((cells[0], " | ".join(cells[1:])))
    return rows


def as_row(row: tuple[str, str]) -> str:
    return f"| {row[0]} | {row[1]} |"


def test_the_deploy_page_cost_table_is_the_computed_one() -> None:
    expected, shown = costs.table_rows(), page_rows()
    if shown == expected:
        return
    wrong = [f"  should read: {as_row(row)}" for row in expected if row not in shown]
    stale = [f"  not computed: {as_row(row)}" for row in shown if row not in expected]
    order = [] if wrong or stale else ["  the rows are right but out of order"]
    pytest.fail(f"{WHERE}: the table differs from what the Terraform module and "
                f"{costs.PRICES_FILE.relative_to(REPO)} give; paste the output of `{costs.COMMAND}`:\n"
                + "\n".join(wrong + stale + order), pytrace=False)


def test_the_deploy_page_gives_the_computed_totals_and_the_price_date() -> None:
    expected = costs.summary()
    if " ".join(expected.split()) not in " ".join(costs_subsection().split()):
        pytest.fail(f"{WHERE}: the paragraph under the table should read:\n"
                    + textwrap.fill(expected, width=100, break_on_hyphens=False), pytrace=False)


# --- the calculator on sums done by hand ---------------------------------------------------------

@pytest.mark.parametrize("architecture, usd", [
    ("X86_64", HOURS * (0.04048 + 2 * 0.004445)),  # $36.04
    ("ARM64", HOURS * (0.03238 + 2 * 0.00356)),    # $28.84
])
def test_a_task_of_1_vcpu_and_2_gb_for_730_hours(architecture: str, usd: float) -> None:
    prices = costs.load_prices()
    assert prices.hours_per_month == HOURS
    assert costs.fargate_task_month(1024, 2048, architecture, prices) == pytest.approx(usd)


def test_the_default_task_and_network_lines_by_hand() -> None:
    found = {line.item.split(":")[0].split(",")[0]: line.usd
             for line in costs.lines(costs.settings(), costs.load_prices())}
    assert found["Fargate task 2 vCPU / 4 GB (X86_64)"] == pytest.approx(HOURS * (2 * 0.04048 + 4 * 0.004445))
    assert found["ALB"] == pytest.approx(HOURS * 0.0225)
    assert found["ALB public IPv4 addresses"] == pytest.approx(2 * HOURS * 0.005)
    assert found["Interface endpoints"] == pytest.approx(3 * 2 * HOURS * 0.01)  # $43.80
    assert found["Container Insights"] == pytest.approx(37 * 0.30)
    assert found["KMS keys"] == pytest.approx(1.0)


def test_tasks_multiply_the_task_line_only() -> None:
    prices = costs.load_prices()
    one, three = costs.settings(min_capacity=1), costs.settings(min_capacity=3)
    assert costs.monthly(three, prices) - costs.monthly(one, prices) == pytest.approx(2 * costs.task_month(one, prices))


@pytest.mark.parametrize("usd, shown", [(16.425, "$16"), (72.5, "$73"), (152.6, "$153"), (7.3, "$7.30"),
                                        (0.9, "$0.90"), (1234.5, "$1,235")])
def test_money_is_rounded_half_up_to_dollars_from_ten(usd: float, shown: str) -> None:
    assert costs.money(usd) == shown


def test_the_counts_are_read_from_the_module() -> None:
    """Alarms from alarms.tf's map and any other alarm resource, two per target tracking policy,
    endpoints from network.tf."""
    module = costs.Module(costs.settings())
    alarms, metrics, tracking = module.alarms()
    assert module.instances("aws_cloudwatch_metric_alarm", "this") == len(module_locals()["alarms"])
    assert len(module_locals()["alarms"]) <= alarms <= metrics
    assert tracking == 2 * len(module_locals()["scaling_policies"])
    assert costs.Module(costs.settings(enable_autoscaling=False)).alarms()[2] == 0

    def endpoints(**values) -> list[str]:
        return sorted(name for name, _ in costs.Module(costs.settings(**values)).interface_endpoints())

    base = endpoints()
    assert base and "secretsmanager" not in base
    assert endpoints(api_keys_secret_arn=costs.API_KEYS_ARN) == sorted([*base, "secretsmanager"])
    assert endpoints(api_keys_secret_arn=costs.API_KEYS_ARN, enable_nat_gateway=True) == base
    assert endpoints(enable_vpc_endpoints=False, enable_nat_gateway=True) == []
    assert costs.Module(costs.settings(enable_container_insights=False)).container_insights_metrics() == 0


def test_an_expression_the_calculator_cannot_read_stops_it() -> None:
    with pytest.raises(costs.Unreadable, match="cidrsubnet"):
        costs.Module(costs.settings()).value("${cidrsubnet(var.vpc_cidr, 8, 1)}")


# --- the price table ---------------------------------------------------------------------------

def test_the_price_table_has_a_date_and_a_source_for_every_price() -> None:
    prices = costs.load_prices()
    assert prices.taken.year >= 2026
    assert prices.region == "us-east-1"
    for key, entry in prices.entries.items():
        assert entry.get("usd", 0) > 0, f"{key}: no price"
        assert entry.get("unit"), f"{key}: no unit"
        assert str(entry.get("source", "")).startswith("https://aws.amazon.com/"), f"{key}: no AWS source page"


class Recording(dict):
    """The price entries, noting every price that is read."""

    def __init__(self, *args):
        super().__init__(*args)
        self.read: set[str] = set()

    def __getitem__(self, key):
        self.read.add(key)
        return super().__getitem__(key)


def test_every_price_the_calculator_uses_must_be_in_the_table() -> None:
    prices = costs.load_prices()
    entries = Recording(prices.entries)
    costs.markdown(replace(prices, entries=entries))
    assert {"fargate_vcpu_hour_x86_64", "alb_hour", "public_ipv4_hour", "custom_metric_month"} <= entries.read
    for key in sorted(entries.read):
        without = replace(prices, entries={k: v for k, v in prices.entries.items() if k != key})
        with pytest.raises(costs.MissingPrice, match=re.escape(f"has no price {key!r}")):
            costs.markdown(without)
