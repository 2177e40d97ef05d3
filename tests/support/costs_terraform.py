"""What the Terraform module creates that costs money, counted from its files with python-hcl2
(support/terraform.py) for a set of variable values: the cost calculator's reading of the module
(tests/support/costs.py).

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
alarms of its own.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

from tests.support.terraform import blocks, module_locals, parse, terraform_files

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


class Unreadable(ValueError):
    """An expression or resource shape this calculator does not know how to count."""


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
            generated = [block["metric_query"] for block in body.get("dynamic", []) if "metric_query" in block]
            alarms += count
            if generated:
                metrics += self.generated_metrics(body, generated)
            metrics += count * (sum(1 for query in queries if query.get("metric")) if queries or generated else 1)
        tracking = sum(count for _, body, count in self.each("aws_appautoscaling_policy")
                       if body.get("policy_type") == "TargetTrackingScaling")
        return alarms, metrics, tracking * ALARMS_PER_TARGET_TRACKING_POLICY

    def generated_metrics(self, body: dict, generated: list[dict]) -> int:
        """Metrics read by the instances of an alarm whose metric queries come from `dynamic`
        blocks (service_alarms.tf): a block whose content reads a metric makes one query for
        each entry of `each.value.ATTRIBUTE`, in the map the alarm's own for_each takes; a
        block of expressions reads none."""
        if "for_each" not in body:
            raise Unreadable("dynamic metric_query blocks in an alarm without for_each")
        instances = self.value(body["for_each"])
        total = 0
        for block in generated:
            if not any(content.get("metric") for content in block.get("content", [])):
                continue
            match = re.fullmatch(r"\$\{each\.value\.(\w+)\}", str(block.get("for_each", "")))
            if not match:
                raise Unreadable(f"dynamic metric_query over {block.get('for_each')}")
            total += sum(len(self.value(instance[match[1]])) for instance in instances.values())
        return total

    def web_acl_rules(self) -> tuple[int, int]:
        acls = rules = 0
        for _, body, count in self.each("aws_wafv2_web_acl"):
            acls += count
            rules += count * len(body.get("rule", []))
        return acls, rules
