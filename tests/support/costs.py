"""What the Terraform module costs a month before traffic: the resources it creates, counted from
its files with python-hcl2 (support/terraform.py) for a set of variable values, priced from the
dated table docs/prices-us-east-1.json. `python -m tests.support.costs` prints the Costs table and
totals of docs/deploy.md; tests/unit/test_cost_table.py fails when the page shows anything else.

Only what the module's own expressions need is evaluated (`cond ? a : b`, `&&`, `||`, `!`,
`== null`, `length`, `toset`, `concat`, variables, locals, resource counts); anything else
raises `Unreadable`, naming the expression, so a change to the module stops the test instead of
leaving a wrong figure in the docs.

Container Insights (the non-enhanced mode, `containerInsights = "enabled"`) is billed per metric.
It publishes, in ECS/ContainerInsights, ten resource metrics for each of three dimension sets
(the cluster; the cluster and a service; the cluster and a task definition family), two counts per
cluster and five per service (CloudWatch User Guide, "Amazon ECS Container Insights metrics";
ContainerInstanceCount is EC2-only). None is per task, so the count does not grow with tasks:
37 metrics for one cluster, one service, one task family. Alarms are billed per alarm metric (an
alarm on metric math for each metric it reads), and each target tracking scaling policy adds two
alarms of its own. The CloudWatch free tier (10 metrics, 10 alarms per account) is left out.
"""

from __future__ import annotations

import functools
import json
import re
import textwrap
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

from tests.support.processes import REPO
from tests.support.terraform import MODULE, blocks, module_locals, parse, terraform_files

PRICES_FILE = REPO / "docs" / "prices-us-east-1.json"
TFVARS_EXAMPLE = MODULE / "terraform.tfvars.example"
COMMAND = ".venv/bin/python -m tests.support.costs"

# Container Insights metrics (non-enhanced) per resource; see the module docstring.
RESOURCE_METRICS = ("CpuUtilized", "CpuReserved", "MemoryUtilized", "MemoryReserved", "NetworkRxBytes",
                    "NetworkTxBytes", "StorageReadBytes", "StorageWriteBytes", "EphemeralStorageReserved",
                    "EphemeralStorageUtilized")
INSIGHTS_METRICS = {
    "cluster": (*RESOURCE_METRICS, "TaskCount", "ServiceCount"),
    "service": (*RESOURCE_METRICS, "DeploymentCount", "DesiredTaskCount", "PendingTaskCount",
                "RunningTaskCount", "TaskSetCount"),
    "task_family": RESOURCE_METRICS,
}
# Application Auto Scaling makes two alarms for each target tracking policy (scale out, scale in).
ALARMS_PER_TARGET_TRACKING_POLICY = 2

# Values that switch an option on, for the option rows; what they are does not matter.
API_KEYS_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pls-api-keys-AbCdEf"
WAF_RATE_LIMIT = 1000


class Unreadable(ValueError):
    """An expression or resource shape this calculator does not know how to count."""


class MissingPrice(KeyError):
    """The price table lacks a price the calculator needs."""

    def __str__(self) -> str:
        return str(self.args[0])


# --- the price table ---------------------------------------------------------------------------

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


# --- reading the module ------------------------------------------------------------------------

@functools.lru_cache(maxsize=2)
def _read(snapshot: tuple) -> tuple[dict, dict, dict]:
    """(resources by (type, name), locals, variables) of the module's files as `snapshot` saw them."""
    resources: dict[tuple[str, str], dict] = {}
    for path in terraform_files():
        for block in parse(path).get("resource", []):
            for kind, named in block.items():
                for name, body in named.items():
                    resources[(kind, name)] = body
    return resources, module_locals(), blocks("variable")


def module_files() -> tuple[dict, dict, dict]:
    """The module read once per version of its files (read-only: shared between callers)."""
    return _read(tuple((path.name, path.stat().st_mtime_ns, path.stat().st_size) for path in terraform_files()))


def settings(tfvars: Path | None = None, **overrides) -> dict:
    """Every variable's value: its default, then `tfvars`, then `overrides`."""
    values = {name: body.get("default") for name, body in module_files()[2].items()}
    if tfvars is not None:
        values.update(parse(tfvars))
    values.update(overrides)
    return values


def _split_top(text: str, separator: str) -> list[str]:
    """`text` split at `separator` where it stands outside brackets and quotes."""
    parts, depth, quote, start, i = [], 0, None, 0, 0
    while i < len(text):
        char = text[i]
        if quote:
            quote = None if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif depth == 0 and text.startswith(separator, i):
            parts.append(text[start:i])
            start = i = i + len(separator)
            continue
        i += 1
    parts.append(text[start:])
    return [part.strip() for part in parts]


class Module:
    """The module's resources for one set of variable values."""

    def __init__(self, values: dict):
        self.values = values
        self.resources, self.locals, _ = module_files()

    # expressions

    def value(self, expression):
        if not isinstance(expression, str):
            return expression
        text = expression.strip()
        if text.startswith("${") and text.endswith("}"):
            text = text[2:-1].strip()
        condition = _split_top(text, "?")
        if len(condition) == 2:
            branches = _split_top(condition[1], ":")
            if len(branches) != 2:
                raise Unreadable(expression)
            return self.value(branches[0] if self.truth(condition[0]) else branches[1])
        if len(_split_top(text, "||")) > 1 or len(_split_top(text, "&&")) > 1 or text.startswith("!") \
                or re.search(r"[!=]=\s*null$", text):
            return self.truth(text)
        if re.fullmatch(r"-?\d+", text):
            return int(text)
        if text in ("{}", "[]"):
            return {} if text == "{}" else []
        if re.fullmatch(r"\[.*\]", text, re.S):
            return [item.strip("'\"") for item in _split_top(text[1:-1], ",") if item]
        if re.fullmatch(r'"[^"]*"', text):
            return text[1:-1]
        if match := re.fullmatch(r"(length|toset|concat)\((.*)\)", text, re.S):
            function, arguments = match[1], _split_top(match[2], ",")
            if function == "concat":
                return [item for argument in arguments for item in self.value(argument)]
            inner = self.value(arguments[0])
            return len(inner) if function == "length" else list(inner)
        if match := re.fullmatch(r"var\.(\w+)", text):
            if match[1] not in self.values:
                raise Unreadable(f"{expression}: no variable {match[1]}")
            return self.values[match[1]]
        if match := re.fullmatch(r"local\.(\w+)", text):
            if match[1] not in self.locals:
                raise Unreadable(f"{expression}: no local {match[1]}")
            return self.value(self.locals[match[1]])
        if match := re.fullmatch(r"(aws_\w+)\.(\w+)", text):
            return list(range(self.instances(match[1], match[2])))
        raise Unreadable(expression)

    def truth(self, text: str) -> bool:
        if len(alternatives := _split_top(text, "||")) > 1:
            return any(self.truth(part) for part in alternatives)
        if len(terms := _split_top(text, "&&")) > 1:
            return all(self.truth(part) for part in terms)
        if text.startswith("!"):
            return not self.truth(text[1:].strip())
        if match := re.fullmatch(r"(.+?)\s*([!=])=\s*null", text):
            return (self.value(match[1]) is None) == (match[2] == "=")
        result = self.value(text)
        if not isinstance(result, bool):
            raise Unreadable(f"{text} is not a condition")
        return result

    # resources

    def body(self, kind: str, name: str) -> dict:
        if (kind, name) not in self.resources:
            raise Unreadable(f"no resource {kind}.{name}")
        return self.resources[(kind, name)]

    def instances(self, kind: str, name: str) -> int:
        body = self.body(kind, name)
        if "count" in body:
            return int(self.value(body["count"]))
        if "for_each" in body:
            return len(self.value(body["for_each"]))
        return 1

    def each(self, kind: str) -> list[tuple[str, dict, int]]:
        """Every resource of `kind`: (name, body, number of instances)."""
        return [(name, body, self.instances(k, name)) for (k, name), body in self.resources.items() if k == kind]

    def total(self, kind: str) -> int:
        return sum(count for _, _, count in self.each(kind))

    def subnets_of(self, expression: str) -> int:
        """How many subnets `aws_subnet.NAME[*].id` names."""
        match = re.fullmatch(r"\$\{aws_subnet\.(\w+)\[\*\]\.id\}", str(expression))
        if not match:
            raise Unreadable(f"subnets {expression}")
        return self.instances("aws_subnet", match[1])

    # what costs money

    def tasks(self) -> int:
        return sum(count * int(self.value(body["desired_count"])) for _, body, count in self.each("aws_ecs_service"))

    def interface_endpoints(self) -> list[tuple[str, int]]:
        """(service, AZs) of every interface endpoint."""
        found = []
        for _, body, count in self.each("aws_vpc_endpoint"):
            if body.get("vpc_endpoint_type") != "Interface":
                continue
            names = self.value(body["for_each"]) if "for_each" in body else [body["service_name"]] * count
            found += [(str(service), self.subnets_of(body["subnet_ids"])) for service in names]
        return found

    def public_alb_addresses(self) -> tuple[int, int]:
        """(application load balancers, their public IPv4 addresses: one per subnet when internet-facing)."""
        balancers = addresses = 0
        for _, body, count in self.each("aws_lb"):
            if body.get("load_balancer_type", "application") != "application":
                raise Unreadable(f"load balancer type {body.get('load_balancer_type')}")
            balancers += count
            if not self.value(body.get("internal", False)):
                addresses += count * self.subnets_of(body["subnets"])
        return balancers, addresses

    def container_insights_metrics(self) -> int:
        clusters = 0
        for _, body, count in self.each("aws_ecs_cluster"):
            modes = [self.value(s["value"]) for s in body.get("setting", []) if s["name"] == "containerInsights"]
            if any(mode not in ("enabled", "disabled") for mode in modes):
                raise Unreadable(f"Container Insights mode {modes}: enhanced observability is priced per task "
                                 "and container, which this calculator does not count")
            clusters += count if "enabled" in modes else 0
        if not clusters:
            return 0
        if clusters > 1:
            raise Unreadable("more than one cluster with Container Insights")
        return (len(INSIGHTS_METRICS["cluster"]) + self.total("aws_ecs_service") * len(INSIGHTS_METRICS["service"])
                + self.total("aws_ecs_task_definition") * len(INSIGHTS_METRICS["task_family"]))

    def alarms(self) -> tuple[int, int, int]:
        """(metric alarms the module makes, the metrics they are billed for, alarms its target
        tracking policies make). An alarm on metric math is billed for each metric it reads."""
        alarms = metrics = 0
        for _, body, count in self.each("aws_cloudwatch_metric_alarm"):
            queries = body.get("metric_query", [])
            alarms += count
            metrics += count * (sum(1 for query in queries if query.get("metric")) if queries else 1)
        tracking = sum(count for _, body, count in self.each("aws_appautoscaling_policy")
                       if body.get("policy_type") == "TargetTrackingScaling")
        return alarms, metrics, tracking * ALARMS_PER_TARGET_TRACKING_POLICY

    def web_acl_rules(self) -> tuple[int, int]:
        acls = rules = 0
        for _, body, count in self.each("aws_wafv2_web_acl"):
            acls += count
            rules += count * len(body.get("rule", []))
        return acls, rules


# --- pricing -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Line:
    item: str
    usd: float
    suffix: str = ""  # after the amount: " per task", " + traffic", " + $0.045/GB"
    per_task: bool = False  # charged once per running task


def money(usd: float) -> str:
    """Whole dollars from $10 up (half up), cents below."""
    if usd >= 10:
        return f"${Decimal(str(usd)).quantize(Decimal(1), rounding=ROUND_HALF_UP):,}"
    return f"${Decimal(str(usd)).quantize(Decimal('0.01'), rounding=ROUND_HALF_UP)}"


def plural(count: int, word: str) -> str:
    return f"{count} {word}{'' if count == 1 else 's'}"


def unit_price(usd: float) -> str:
    """A unit price as the pricing pages write it: $0.60, $0.045, $0.008."""
    return f"${usd:.2f}" if round(usd, 2) == usd else f"${usd:g}"


def fargate_task_month(cpu_units: int, memory_mib: int, architecture: str, prices: Prices) -> float:
    arch = architecture.lower()
    return (cpu_units / 1024 * prices.hourly_month(f"fargate_vcpu_hour_{arch}")
            + memory_mib / 1024 * prices.hourly_month(f"fargate_gb_hour_{arch}"))


def task_month(values: dict, prices: Prices) -> float:
    size = values["task_size"]
    return fargate_task_month(size["cpu"], size["memory"], values["cpu_architecture"], prices)


def lines(values: dict, prices: Prices) -> list[Line]:
    """The fixed monthly charges of one configuration, one line per kind of resource."""
    module = Module(values)
    size = values["task_size"]
    found = [Line(f"Fargate task {size['cpu'] / 1024:g} vCPU / {size['memory'] / 1024:g} GB "
                  f"({values['cpu_architecture']}), running all month", task_month(values, prices), " per task",
                  per_task=True)]
    balancers, addresses = module.public_alb_addresses()
    if balancers:
        found.append(Line("ALB, fixed hourly charge (LCUs come with traffic)",
                          balancers * prices.hourly_month("alb_hour"), " + traffic"))
    if addresses:
        found.append(Line(f"ALB public IPv4 addresses: {addresses}, one per public subnet",
                          addresses * prices.hourly_month("public_ipv4_hour")))
    endpoints = module.interface_endpoints()
    if endpoints:
        names = ", ".join(name for name, _ in endpoints)
        zones = sorted({azs for _, azs in endpoints})
        found.append(Line(f"Interface endpoints: {len(endpoints)} ({names}) × {'/'.join(map(str, zones))} AZs",
                          sum(azs for _, azs in endpoints) * prices.hourly_month("interface_endpoint_az_hour"),
                          f" + {unit_price(prices.usd('interface_endpoint_gb'))}/GB"))
    nat = module.total("aws_nat_gateway")
    if nat:
        found.append(Line(f"NAT gateway: {nat}, and its Elastic IP", nat * prices.hourly_month("nat_gateway_hour")
                          + module.total("aws_eip") * prices.hourly_month("public_ipv4_hour"),
                          f" + {unit_price(prices.usd('nat_gateway_gb'))}/GB"))
    metrics = module.container_insights_metrics()
    if metrics:
        found.append(Line(f"Container Insights: {metrics} metrics (per cluster, service and task family, "
                          "not per task)", metrics * prices.usd("custom_metric_month")))
    keys = module.total("aws_kms_key")
    if keys:
        found.append(Line(f"KMS keys: {keys}", keys * prices.usd("kms_key_month")))
    own, metrics, tracking = module.alarms()
    if own or tracking:
        found.append(Line(f"CloudWatch alarms: {own} ({metrics} alarm metrics) + {tracking} made by target "
                          f"tracking ({ALARMS_PER_TARGET_TRACKING_POLICY} per scaling policy)",
                          (metrics + tracking) * prices.usd("alarm_month")))
    acls, rules = module.web_acl_rules()
    if acls:
        found.append(Line(f"WAF: {acls} web ACL, {plural(rules, 'rule')}", acls * prices.usd("waf_web_acl_month")
                          + rules * prices.usd("waf_rule_month"), " + requests"))
    return found


def monthly(values: dict, prices: Prices) -> float:
    """The whole fixed monthly charge: every line, the task line once per task."""
    tasks = Module(values).tasks()
    return sum(line.usd * (tasks if line.per_task else 1) for line in lines(values, prices))


def _extra(base: dict, prices: Prices, **overrides) -> float:
    return monthly({**base, **overrides}, prices) - monthly(base, prices)


def option_lines(values: dict, prices: Prices) -> list[Line]:
    """What an option adds to `values`' monthly charge, from the module with the option on."""
    found = [Line("Option: NAT gateway and its Elastic IP (`enable_nat_gateway`; the endpoints may then go)",
                  _extra(values, prices, enable_nat_gateway=True),
                  f" + {unit_price(prices.usd('nat_gateway_gb'))}/GB")]
    base = {name for name, _ in Module(values).interface_endpoints()}
    with_keys = Module({**values, "api_keys_secret_arn": API_KEYS_ARN})
    added = [(name, azs) for name, azs in with_keys.interface_endpoints() if name not in base]
    if not added:
        raise Unreadable("API keys without a NAT gateway add no interface endpoint any more: "
                         "the option row needs rewording")
    found.append(Line(f"Option: API keys on and no NAT gateway: the {', '.join(n for n, _ in added)} endpoint "
                      f"× {added[0][1]} AZs (ECS reads the keys through it)",
                      _extra(values, prices, api_keys_secret_arn=API_KEYS_ARN)))
    acls, rules = Module({**values, "waf_rate_limit": WAF_RATE_LIMIT}).web_acl_rules()
    found.append(Line(f"Option: WAF rate limit (`waf_rate_limit`): {acls} web ACL, {plural(rules, 'rule')}",
                      _extra(values, prices, waf_rate_limit=WAF_RATE_LIMIT),
                      f" + {unit_price(prices.usd('waf_million_requests'))} per million requests"))
    return found


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
