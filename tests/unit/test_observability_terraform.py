"""The Terraform module's dashboard, alarms and scaling policy name only metrics that exist, and
the scaling target is derived from the service's capacity (issue 24).

The rendered dashboard body and the alarms' metrics come from `terraform console` on a copy of
the module (offline init from the provider mirror; a few seconds), whose only change is an
override file giving the ALB, target group and service their names: without an apply those are
unknown and the console could not print the JSON. Every metric of the service must be one of
pls_core/metric_names.py with exactly its dimensions; every AWS metric one its namespace
publishes, with a dimension set it publishes it under (the allow-list below, from the
CloudWatch metric lists of the Application Load Balancer, ECS and Container Insights).

The plan-level checks of the same resources are terraform/tests/observability.tftest.hcl (with a
mock provider, in tests/integration/test_terraform.py); its refused values' messages are checked
here, as tests/unit/test_terraform_static.py checks refused_values.tftest.hcl's.
"""

from __future__ import annotations

import re
import shutil

import pytest

from pls_core import metric_names
from pls_core.config import SETTINGS, load_config
from tests.support.processes import REPO
from tests.support.terraform import (
    MODULE,
    console,
    copy_module,
    missing_tool,
    parse,
    terraform_files,
    terraform_init,
    variable_default,
)

STACK = "pls-service"  # the module's default name: the metrics' Service dimension
ALB = "app/pls-service/50dc6c495c0c9188"
TARGET_GROUP = "targetgroup/pls-service/73e2d6bc24d8a067"

# The names the console cannot know before an apply, given here (a *_override.tf replaces the
# same-named locals of the module's files).
NAMES_OVERRIDE = f"""
locals {{
  region                  = "us-east-1"
  alb_dimensions          = {{ LoadBalancer = "{ALB}" }}
  target_group_dimensions = {{ LoadBalancer = "{ALB}", TargetGroup = "{TARGET_GROUP}" }}
  service_dimensions      = {{ ClusterName = "{STACK}", ServiceName = "{STACK}" }}
}}
"""

# AWS metrics the module may name: namespace -> metric -> the dimension sets it is published with.
LB, TG = "LoadBalancer", "TargetGroup"
AWS_METRICS: dict[str, dict[str, set[frozenset[str]]]] = {
    "AWS/ApplicationELB": {
        "RequestCount": {frozenset({LB}), frozenset({LB, TG})},
        "TargetResponseTime": {frozenset({LB}), frozenset({LB, TG})},
        "HTTPCode_ELB_5XX_Count": {frozenset({LB})},
        "HTTPCode_Target_5XX_Count": {frozenset({LB}), frozenset({LB, TG})},
        "HealthyHostCount": {frozenset({LB, TG})},
        "UnHealthyHostCount": {frozenset({LB, TG})},
    },
    "AWS/ECS": {
        "CPUUtilization": {frozenset({"ClusterName"}), frozenset({"ClusterName", "ServiceName"})},
        "MemoryUtilization": {frozenset({"ClusterName"}), frozenset({"ClusterName", "ServiceName"})},
    },
    "ECS/ContainerInsights": {
        "RunningTaskCount": {frozenset({"ClusterName", "ServiceName"})},
        "DesiredTaskCount": {frozenset({"ClusterName", "ServiceName"})},
    },
}
STATISTICS = re.compile(r"^(Sum|Average|Minimum|Maximum|SampleCount|p\d{1,2}(\.\d+)?)$")
# What the value of each dimension must be.
DIMENSION_VALUES = {LB: ALB, TG: TARGET_GROUP, "ClusterName": STACK, "ServiceName": STACK,
                    metric_names.SERVICE_DIMENSION: STACK}
ALARM_METRIC_LIMIT = 10  # metrics one alarm on metric math may read (a CloudWatch hard limit)

# What the tests read, on one line (the console reads a line at a time).
EVALUATED_PARTS = {
    "dashboard": "local.dashboard",
    "service_alarms": "var.emf_metrics ? local.service_metric_alarms : {}",
    "traffic_alarms": "var.emf_metrics ? local.alarms : local.traffic_alarms",
    "work_metric": "local.work_metric",
    "work_target": "var.work_in_flight_target",
    "admission": "local.admission_capacity",
    "environment": "local.container_environment",
    "endpoints": "local.service_endpoints",
    "outcomes": "local.service_outcomes",
    "namespace": "var.metrics_namespace",
}
EVALUATED = "jsonencode({" + ", ".join(f"{key} = {value}" for key, value in EVALUATED_PARTS.items()) + "})"


OTLP = "http://localhost:4318/v1/traces"
# Two evaluations (each console call loads the provider, ~4 s): the defaults with tracing on, and
# the service's metrics off with a lowered admission cap.
VARIABLE_SETS = {
    "on": (f"-var=otlp_endpoint={OTLP}",),
    "off": ("-var=emf_metrics=false", '-var=service_environment={PLS_MAX_INFLIGHT_GENERATIONS = "20"}',
            "-var=work_in_flight_target=10"),
}


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    terraform = shutil.which("terraform")
    if terraform is None:
        missing_tool("terraform is not installed (needed to render the dashboard and alarms)")
    workdir = copy_module(tmp_path_factory.mktemp("observability") / "module")
    (workdir / "names_override.tf").write_text(NAMES_OVERRIDE)
    terraform_init(terraform, workdir)
    found = {}
    for name, variables in VARIABLE_SETS.items():
        value, error = console(terraform, workdir, EVALUATED, *variables)
        assert value is not None, f"terraform console failed ({name}): {error}"
        found[name] = value
    return found


# --- what a metric is ----------------------------------------------------------------------------

def check_metric(namespace: str, name: str, dimensions: dict[str, str], stat: str, where: str,
                 service_namespace: str = metric_names.NAMESPACE) -> None:
    assert STATISTICS.match(stat), f"{where}: {name} has no valid statistic ({stat!r})"
    for key, value in dimensions.items():
        if key in DIMENSION_VALUES:
            assert value == DIMENSION_VALUES[key], f"{where}: {name}'s {key} is {value!r}"
    if namespace == service_namespace:
        assert name in metric_names.METRICS, f"{where}: the service writes no metric {name}"
        expected = {metric_names.SERVICE_DIMENSION, *metric_names.METRICS[name][1]}
        assert set(dimensions) == expected, \
            f"{where}: {name} is written with {sorted(expected)}, not {sorted(dimensions)}"
        if "Endpoint" in dimensions:
            assert dimensions["Endpoint"] in metric_names.ENDPOINTS, f"{where}: no endpoint {dimensions['Endpoint']}"
        if "Outcome" in dimensions:
            assert dimensions["Outcome"] in metric_names.OUTCOMES, f"{where}: no outcome {dimensions['Outcome']}"
        return
    assert namespace in AWS_METRICS, f"{where}: namespace {namespace} is neither AWS's (as used) nor the service's"
    assert name in AWS_METRICS[namespace], f"{where}: {namespace} publishes no {name} (as far as this list knows)"
    assert frozenset(dimensions) in AWS_METRICS[namespace][name], \
        f"{where}: {namespace} {name} is not published with dimensions {sorted(dimensions)}"


def dashboard_metrics(dashboard: dict) -> list[tuple[str, dict, list]]:
    """(widget title, its metric ids -> (namespace, name, dimensions, stat), its expressions)."""
    found = []
    for widget in dashboard["widgets"]:
        if widget["type"] != "metric":
            continue
        properties = widget["properties"]
        metrics, expressions = {}, []
        for number, line in enumerate(properties["metrics"]):
            if len(line) == 1 and "expression" in line[0]:
                expressions.append(line[0])
                continue
            *names, options = line
            namespace, name, *pairs = names
            assert len(pairs) % 2 == 0, f"{properties['title']}: odd dimension list {pairs}"
            dimensions = dict(zip(pairs[::2], pairs[1::2], strict=True))
            metrics[options.get("id", f"m{number}")] = (namespace, name, dimensions,
                                                        options.get("stat", properties.get("stat", "")))
        found.append((properties["title"], metrics, expressions))
    return found


def expression_ids(expression: str) -> set[str]:
    """The query ids an expression reads (function names and keywords left out)."""
    return set(re.findall(r"\b([a-z][A-Za-z0-9_]*)\b(?!\s*\()", expression))


# --- the dashboard -------------------------------------------------------------------------------

@pytest.mark.parametrize("emf", [True, False], ids=["emf_metrics", "without"])
def test_every_dashboard_metric_is_one_aws_or_the_service_publishes(evaluated, emf: bool) -> None:
    values = evaluated["on" if emf else "off"]
    graphs = dashboard_metrics(values["dashboard"])
    assert graphs, "the dashboard has no graph"
    service_graphs = 0
    for title, metrics, expressions in graphs:
        assert metrics, f"{title}: no metric"
        for namespace, name, dimensions, stat in metrics.values():
            check_metric(namespace, name, dimensions, stat, f"dashboard, {title}", values["namespace"])
        service_graphs += any(namespace == values["namespace"] for namespace, *_ in metrics.values())
        for expression in expressions:
            unknown = expression_ids(expression["expression"]) - set(metrics)
            assert not unknown, f"{title}: {expression['expression']} reads {sorted(unknown)}, not in the graph"
    # Without the service's metrics its graphs are left out; the ALB's and the tasks' stay.
    assert service_graphs == (6 if emf else 0)
    assert len(graphs) == (11 if emf else 5)


def test_the_dashboard_draws_every_metric_the_service_writes(evaluated) -> None:
    values = evaluated["on"]
    drawn = {name for _, metrics, _ in dashboard_metrics(values["dashboard"])
             for namespace, name, _, _ in metrics.values() if namespace == values["namespace"]}
    assert drawn == set(metric_names.METRICS)
    requests = next(metrics for title, metrics, _ in dashboard_metrics(values["dashboard"])
                    if title.startswith("Requests by outcome"))
    assert {(d["Endpoint"], d["Outcome"]) for _, _, d, _ in requests.values()} == \
        {(e, o) for e in metric_names.ENDPOINTS for o in metric_names.OUTCOMES}


def test_the_module_lists_the_services_endpoints_and_outcomes(evaluated) -> None:
    values = evaluated["on"]
    assert values["endpoints"] == list(metric_names.ENDPOINTS)
    assert values["outcomes"] == list(metric_names.OUTCOMES)
    assert values["namespace"] == metric_names.NAMESPACE == variable_default("metrics_namespace")


# --- the alarms ----------------------------------------------------------------------------------

def outcomes_read(alarm: dict) -> set[tuple[str, str]]:
    return {(m["dimensions"]["Endpoint"], m["dimensions"]["Outcome"]) for m in alarm["metrics"].values()
            if m["metric_name"] == "Requests"}


def test_every_alarm_metric_exists_and_every_expression_reads_its_own(evaluated) -> None:
    for values in evaluated.values():
        for key, alarm in values["traffic_alarms"].items():
            check_metric(alarm["namespace"], alarm["metric_name"], alarm["dimensions"], alarm["statistic"],
                         f"alarm {key}", values["namespace"])
        for key, alarm in values["service_alarms"].items():
            assert len(alarm["metrics"]) <= ALARM_METRIC_LIMIT, f"alarm {key} reads more than 10 metrics"
            for query_id, metric in alarm["metrics"].items():
                assert re.fullmatch(r"[a-z][A-Za-z0-9_]*", query_id), f"alarm {key}: bad query id {query_id}"
                check_metric(metric["namespace"], metric["metric_name"], metric["dimensions"], metric["stat"],
                             f"alarm {key}", values["namespace"])
            assert expression_ids(alarm["expression"]) == set(alarm["metrics"]), \
                f"alarm {key}: {alarm['expression']} must read exactly its metrics"
    # tasks_below_desired is written out in service_alarms.tf.
    alarm = next(block["aws_cloudwatch_metric_alarm"]["tasks_below_desired"]
                 for block in parse(MODULE / "service_alarms.tf")["resource"]
                 if "tasks_below_desired" in block.get("aws_cloudwatch_metric_alarm", {}))
    for query in alarm["metric_query"]:
        for metric in query.get("metric", []):
            dimensions = dict.fromkeys(("ClusterName", "ServiceName"), STACK)
            assert metric["dimensions"] == "${local.service_dimensions}"
            check_metric(metric["namespace"], metric["metric_name"], dimensions, metric["stat"], "tasks_below_desired")


def test_failures_are_5xx_and_unavailable_of_every_endpoint_and_the_albs_own(evaluated) -> None:
    alarms = evaluated["on"]["service_alarms"]
    failures = alarms["failures"]
    assert outcomes_read(failures) == {(e, o) for e in metric_names.ENDPOINTS for o in ("5xx", "unavailable")}
    assert {m["metric_name"] for m in failures["metrics"].values()} == {"Requests", "HTTPCode_ELB_5XX_Count"}
    # Every term is filled: an outcome that did not happen writes no record in that period.
    assert all(f"FILL({query_id}, 0)" in failures["expression"] for query_id in failures["metrics"])
    assert outcomes_read(alarms["load_shedding"]) == {(e, "shed") for e in metric_names.ENDPOINTS}
    assert "RequestCount" in {m["metric_name"] for m in alarms["load_shedding"]["metrics"].values()}
    assert {m["metric_name"] for m in alarms["low_confidence"]["metrics"].values()} == \
        {"Summaries", "LowConfidenceSummaries"}
    # No alarm on metric math counts a shed 503 as a failure.
    assert not any(o == "shed" for _, o in outcomes_read(failures))


def test_without_the_service_metrics_the_5xx_alarms_stay(evaluated) -> None:
    assert evaluated["off"]["service_alarms"] == {}
    assert {"alb_5xx", "target_5xx"} <= set(evaluated["off"]["traffic_alarms"])
    assert not {"alb_5xx", "target_5xx"} & set(evaluated["on"]["traffic_alarms"])


# --- the container and the scaling target ------------------------------------------------------------

def test_the_container_environment_is_valid_for_the_service(evaluated) -> None:
    environment = evaluated["on"]["environment"]
    assert environment == {"PLS_EMF_METRICS": "true", "PLS_METRICS_NAMESPACE": metric_names.NAMESPACE,
                           "PLS_METRICS_SERVICE": STACK, "PLS_OTLP_ENDPOINT": OTLP}
    known = {setting.env for setting in SETTINGS.values()}
    assert set(environment) <= known
    config = load_config(environ=environment)  # raises ConfigError on a value the service refuses
    assert config.emf_metrics is True and config.metrics_service == STACK
    # Off: the overrides alone, as before the service had metrics to write.
    assert evaluated["off"]["environment"] == {"PLS_MAX_INFLIGHT_GENERATIONS": "20"}


def test_the_scaling_metric_is_the_services_work_in_flight(evaluated) -> None:
    metric = evaluated["on"]["work_metric"]
    assert metric["metric_name"] == "WorkInFlight" and metric["statistic"] == "Average"
    check_metric(metric["namespace"], metric["metric_name"], metric["dimensions"], metric["statistic"],
                 "the work-in-flight scaling policy")


def test_the_scaling_target_is_half_the_services_default_capacity(evaluated) -> None:
    """work_in_flight_target = PLS_MAX_INFLIGHT_GENERATIONS / 2: the cap is what one API worker
    admits before it sheds; the other half absorbs the load that arrives while a new task starts."""
    capacity = int(SETTINGS["max_inflight_generations"].default)
    assert variable_default("work_in_flight_target") == capacity / 2
    values = evaluated["on"]
    assert values["admission"] == capacity, "locals.tf's default cap differs from pls_core/config.py's"
    assert values["work_target"] == capacity / 2
    assert evaluated["off"]["admission"] == 20, "a lowered cap is read from service_environment"


def test_the_derivation_is_written_in_the_deploy_guide() -> None:
    capacity = int(SETTINGS["max_inflight_generations"].default)
    target = variable_default("work_in_flight_target")
    scaling = (REPO / "docs" / "deploy.md").read_text().split("\n## Scaling\n", 1)[1].split("\n## ", 1)[0]
    assert f"`work_in_flight_target`, {target} by default" in scaling
    assert f"`PLS_MAX_INFLIGHT_GENERATIONS` ({capacity} by default" in scaling
    assert f"{target} = {capacity} / 2" in scaling


# --- the refused values ----------------------------------------------------------------------------

# Each refused run of observability.tftest.hcl expects one rule to fail; its message says why.
REFUSED_VALUE_MESSAGES = {
    "var.metrics_namespace": "must not start with AWS/",
    "var.otlp_endpoint": "must be empty (tracing off) or an http:// or https:// URL",
    "var.work_in_flight_target": "work_in_flight_target must be between 1 and 10000",
    "aws_appautoscaling_policy.this": "work_in_flight_target must be below PLS_MAX_INFLIGHT_GENERATIONS",
    "var.service_environment": "service_environment must not set PLS_EMF_METRICS",
    "var.alarm_shed_percent": "alarm_shed_percent must be above 0",
    "var.alarm_low_confidence_percent": "alarm_low_confidence_percent must be above 0 and below 100",
    "var.alarm_low_confidence_min_summaries": "must be a whole number of summaries",
}


def _rule_messages(address: str) -> list[str]:
    kind, _, name = address.partition(".")
    messages = []
    for path in terraform_files():
        parsed = parse(path)
        if kind == "var":
            messages += [rule["error_message"] for block in parsed.get("variable", []) if name in block
                         for rule in block[name].get("validation", [])]
        for block in parsed.get("resource", []):
            body = block.get(kind, {}).get(name)
            if body:
                messages += [rule["error_message"] for lifecycle in body.get("lifecycle", [])
                             for rule in lifecycle.get("precondition", [])]
    return messages


def test_every_refused_value_is_refused_by_a_rule_that_says_why() -> None:
    tests = (MODULE / "tests" / "observability.tftest.hcl").read_text()
    expected = set(re.findall(r"expect_failures = \[([^\]]+)\]", tests))
    assert expected == set(REFUSED_VALUE_MESSAGES), "a refused run of observability.tftest.hcl without its message here"
    for address, message in REFUSED_VALUE_MESSAGES.items():
        assert any(message in text for text in _rule_messages(address)), (address, _rule_messages(address))

