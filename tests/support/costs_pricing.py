"""The fixed monthly charges of one configuration of the Terraform module, one line per kind of
resource, and what each option adds: the module's resources (tests/support/costs_terraform.py)
priced from the price table (tests/support/costs_prices.py)."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from tests.support.costs_prices import Prices
from tests.support.costs_terraform import ALARMS_PER_TARGET_TRACKING_POLICY, Module, Unreadable

# Values that switch an option on, for the option rows; what they are does not matter.
API_KEYS_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pls-api-keys-AbCdEf"
WAF_RATE_LIMIT = 1000


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
