"""The stack of the e2e deployment life (tests/e2e/test_deploy.py): its production settings, the
changes a saved plan makes, and what the apply must have created, checked through the AWS API as
moto serves it."""

from __future__ import annotations

import json
from pathlib import Path

import boto3

from tests.support.service_contract import HEALTH_PATH, LIVENESS_PATH, SERVICE_PORT
from tests.support.terraform import PLAN_TIMEOUT, check, run_terraform, time_to_serve_s, variable_default

SECRET_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:pls-api-keys-AbCdEf"
WAF_RATE_LIMIT = 100
# What the task is told with emf_metrics (terraform/locals.tf), beside service_environment.
METRICS_SETTINGS = {"PLS_EMF_METRICS", "PLS_METRICS_NAMESPACE", "PLS_METRICS_SERVICE"}


def planned_changes(terraform: str, workdir: Path, env: dict[str, str], var_args: list[str]) -> list[dict]:
    """resource_changes of a saved plan, as `terraform show -json` gives them."""
    check(run_terraform(terraform, ["plan", "-input=false", "-no-color", "-out=upgrade.tfplan", *var_args],
                        workdir, PLAN_TIMEOUT, env), "terraform plan")
    shown = run_terraform(terraform, ["show", "-json", "upgrade.tfplan"], workdir, 60, env)
    check(shown, "terraform show -json")
    return json.loads(shown.stdout).get("resource_changes", [])


def production_settings(certificate_arn: str, alarm_topic: str) -> str:
    """terraform.tfvars of the life: each optional path switched on."""
    return "\n".join([
        f'alarm_actions = ["{alarm_topic}"]',           # alarms and failed deployments notify a topic
        f'certificate_arn = "{certificate_arn}"',       # the HTTPS listener and the HTTP->HTTPS redirect
        "enable_nat_gateway = true",                    # the NAT gateway next to the endpoints
        f'api_keys_secret_arn = "{SECRET_ARN}"',        # keys from Secrets Manager
        f"waf_rate_limit = {WAF_RATE_LIMIT}",           # the WAF's per-IP rate rule
    ]) + "\n"


def assert_stack_in_moto(kwargs: dict, outputs: dict, image: str, alarm_topic: str) -> None:
    """Spot-check what the apply created, through the AWS API as moto serves it."""
    ecs = boto3.client("ecs", **kwargs)
    service = ecs.describe_services(cluster=outputs["cluster_name"]["value"],
                                    services=[outputs["service_name"]["value"]])["services"][0]
    assert service["launchType"] == "FARGATE"
    assert service["networkConfiguration"]["awsvpcConfiguration"]["assignPublicIp"] == "DISABLED"
    assert service["loadBalancers"][0]["containerPort"] == SERVICE_PORT
    assert service["healthCheckGracePeriodSeconds"] == variable_default("health_check_grace_period_seconds")

    task = ecs.describe_task_definition(taskDefinition=outputs["task_definition_arn"]["value"])["taskDefinition"]
    container = task["containerDefinitions"][0]
    assert container["image"] == image
    assert container["portMappings"][0]["containerPort"] == SERVICE_PORT
    # ECS replaces a task whose container check fails: it asks liveness; the ALB asks readiness.
    assert LIVENESS_PATH in " ".join(container["healthCheck"]["command"])
    assert HEALTH_PATH not in " ".join(container["healthCheck"]["command"])
    assert container["logConfiguration"]["logDriver"] == "awslogs"
    assert ({e["name"] for e in container["environment"]}
            == set(variable_default("service_environment")) | METRICS_SETTINGS)
    # The API keys reach the container from Secrets Manager, never as plain environment.
    assert [(x["name"], x["valueFrom"]) for x in container.get("secrets", [])] == [("PLS_API_KEYS", SECRET_ARN)]
    assert "PLS_API_KEYS" not in {e["name"] for e in container["environment"]}
    # Only the execution role (the ECS agent) may read that one secret.
    iam = boto3.client("iam", **kwargs)
    execution_role = task["executionRoleArn"].rsplit("/", 1)[1]
    documents = [iam.get_role_policy(RoleName=execution_role, PolicyName=name)["PolicyDocument"]
                 for name in iam.list_role_policies(RoleName=execution_role)["PolicyNames"]]
    readers = [s for d in documents for s in d["Statement"] if "secretsmanager" in json.dumps(s["Action"])]
    assert [(r["Action"], r["Resource"]) for r in readers] == [("secretsmanager:GetSecretValue", SECRET_ARN)]
    # The server keeps idle connections open longer than the ALB does.
    assert container["command"] == outputs["container_command"]["value"]
    assert container["command"][:2] == ["serve", "--timeout-keep-alive"]
    assert int(container["command"][2]) > variable_default("alb_idle_timeout")

    # The WAF's per-IP rate rule sits on the ALB and answers 429.
    elbv2 = boto3.client("elbv2", **kwargs)
    alb = elbv2.describe_load_balancers(Names=[outputs["service_name"]["value"]])["LoadBalancers"][0]
    alb_arn = alb["LoadBalancerArn"]
    rule = boto3.client("wafv2", **kwargs).get_web_acl_for_resource(ResourceArn=alb_arn)["WebACL"]["Rules"][0]
    assert rule["Statement"]["RateBasedStatement"]["Limit"] == WAF_RATE_LIMIT
    assert rule["Statement"]["RateBasedStatement"]["AggregateKeyType"] == "IP"
    assert rule["Action"]["Block"]["CustomResponse"]["ResponseCode"] == 429

    target_group = elbv2.describe_target_groups(
        TargetGroupArns=[outputs["target_group_arn"]["value"]])["TargetGroups"][0]
    assert target_group["TargetType"] == "ip"
    assert target_group["HealthCheckPath"] == HEALTH_PATH
    listeners = {item["Port"]: item for item in elbv2.describe_listeners(LoadBalancerArn=alb_arn)["Listeners"]}
    assert listeners[80]["DefaultActions"][0]["Type"] == "redirect"
    # ...except writes, which a redirect would turn into GETs: a 4xx that says to use HTTPS.
    rules = [r for r in elbv2.describe_rules(ListenerArn=listeners[80]["ListenerArn"])["Rules"] if not r["IsDefault"]]
    assert len(rules) == 1, rules
    action, condition = rules[0]["Actions"][0], rules[0]["Conditions"][0]
    assert action["Type"] == "fixed-response" and action["FixedResponseConfig"]["StatusCode"] == "400"
    assert "https://" in json.loads(action["FixedResponseConfig"]["MessageBody"])["error"]
    methods = condition.get("HttpRequestMethodConfig", {}).get("Values") or condition.get("Values")
    assert set(methods) == {"POST", "PUT", "PATCH", "DELETE", "OPTIONS"}, condition
    assert listeners[443]["Protocol"] == "HTTPS"
    assert listeners[443]["DefaultActions"][0]["TargetGroupArn"] == target_group["TargetGroupArn"]

    # An alarm when no task is healthy, also when the metric is missing altogether.
    described_alarms = boto3.client("cloudwatch", **kwargs).describe_alarms()["MetricAlarms"]
    alarms = {a.get("MetricName"): a for a in described_alarms}
    healthy = alarms["HealthyHostCount"]
    assert (healthy["ComparisonOperator"], healthy["Threshold"]) == ("LessThanThreshold", 1)
    assert healthy["TreatMissingData"] == "breaching"
    assert {d["Name"] for d in healthy["Dimensions"]} == {"LoadBalancer", "TargetGroup"}

    # Failures, load shedding and the model-drift warning from the service's own metrics notify
    # the topic; the 5xx counts, which take shed 503s for failures, are gone.
    name = outputs["service_name"]["value"]
    by_name = {a["AlarmName"]: a for a in described_alarms}
    assert not {f"{name}-alb-5xx", f"{name}-target-5xx"} & set(by_name)
    for alarm, outcomes in (("failures", {"5xx", "unavailable"}), ("load-shedding", {"shed"}),
                            ("low-confidence", set())):
        described = by_name[f"{name}-{alarm}"]
        assert described["AlarmActions"] == [alarm_topic]
        read = [q["MetricStat"]["Metric"] for q in described["Metrics"] if "MetricStat" in q]
        assert {d["Value"] for m in read for d in m["Dimensions"] if d["Name"] == "Outcome"} == outcomes
        assert next(q for q in described["Metrics"] if q.get("ReturnData"))["Expression"]
    # The dashboard, with the service's graphs.
    dashboard = boto3.client("cloudwatch", **kwargs).get_dashboard(DashboardName=outputs["dashboard_name"]["value"])
    titles = {w["properties"].get("title") for w in json.loads(dashboard["DashboardBody"])["widgets"]}
    assert {"5xx by source (per minute)", "Requests by outcome (per minute, all endpoints)"} <= titles
    assert outputs["dashboard_url"]["value"].endswith(f"#dashboards/dashboard/{outputs['dashboard_name']['value']}")

    # Fewer tasks running than desired, from Container Insights' counts, notifies the topic...
    below = by_name[f"{name}-tasks-below-desired"]
    assert below["AlarmActions"] == [alarm_topic]
    counts = {q["Id"]: q["MetricStat"]["Metric"]["MetricName"] for q in below["Metrics"] if "MetricStat" in q}
    assert counts == {"desired": "DesiredTaskCount", "running": "RunningTaskCount"}
    # ...and so does a deployment the circuit breaker failed, which no metric shows.
    events = boto3.client("events", **kwargs)
    pattern = json.loads(events.describe_rule(Name=f"{name}-deployment-failed")["EventPattern"])
    assert pattern["detail"]["eventName"] == ["SERVICE_DEPLOYMENT_FAILED"]
    assert pattern["resources"] == [service["serviceArn"]]
    targets = events.list_targets_by_rule(Rule=f"{name}-deployment-failed")["Targets"]
    assert [target["Arn"] for target in targets] == [alarm_topic]
    assert "<reason>" in targets[0]["InputTransformer"]["InputTemplate"]

    # Scale-out waits for a new task to serve before adding another.
    policies = boto3.client("application-autoscaling", **kwargs).describe_scaling_policies(
        ServiceNamespace="ecs")["ScalingPolicies"]
    assert len(policies) == 2
    for policy in policies:
        cooldown = policy["TargetTrackingScalingPolicyConfiguration"]["ScaleOutCooldown"]
        assert cooldown == variable_default("scale_out_cooldown") >= time_to_serve_s()
    # The tasks scale on the model's work in flight (and CPU), not on requests.
    work = {p["PolicyName"]: p for p in policies}[f"{name}-work"]["TargetTrackingScalingPolicyConfiguration"]
    assert work["TargetValue"] == variable_default("work_in_flight_target")
    assert work["CustomizedMetricSpecification"]["MetricName"] == "WorkInFlight"
    assert work["CustomizedMetricSpecification"]["Dimensions"] == [{"Name": "Service", "Value": name}]

    repository = boto3.client("ecr", **kwargs).describe_repositories(
        repositoryNames=[outputs["ecr_repository_name"]["value"]])["repositories"][0]
    assert repository["imageTagMutability"] == "IMMUTABLE"
    assert repository["imageScanningConfiguration"]["scanOnPush"] is True
