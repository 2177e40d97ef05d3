"""ECS: `roll` (a new deployment, waited for until the service is stable or the circuit breaker
fails it), and the service's status that `apply` and `roll` check first: whether ECS rolled back
what Terraform last applied."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pls_deploy.plans import EXIT_PREREQUISITE, EXIT_ROLLOUT_FAILED, ApiCall, DeployError, Lookup, Note, Plan, say
from pls_deploy.stack import Deployment, aws_client


def image_tag_of(image: str) -> str:
    """The tag of `registry/name:tag` (a registry host may have a port; `latest` when untagged)."""
    name = image.rpartition("/")[2].partition("@")[0]
    return name.rpartition(":")[2] if ":" in name else "latest"


@dataclass(frozen=True)
class RolledBack:
    """The service runs another task definition than the one Terraform last applied."""

    running_task_definition: str
    running_tag: str
    applied_task_definition: str
    applied_tag: str


def rolled_back(ecs: Any, cluster: str, service: str, applied_task_definition: str,
                applied_tag: str) -> RolledBack | None:
    """What the service runs when it is not what the state says. Terraform sets the service's
    task definition on apply; only ECS moves it back, when the deployment circuit breaker rolls
    a failed deployment back. A deployment of the applied one still in progress counts as applied."""
    described = ecs.describe_services(cluster=cluster, services=[service]).get("services") or []
    if not described or described[0].get("status") != "ACTIVE":
        return None
    running = described[0].get("taskDefinition")
    if not running or running == applied_task_definition:
        return None
    containers = ecs.describe_task_definition(taskDefinition=running)["taskDefinition"]["containerDefinitions"]
    image = next((c["image"] for c in containers if c.get("essential", True)), containers[0]["image"])
    return RolledBack(running, image_tag_of(image), applied_task_definition, applied_tag)


def require_not_rolled_back(deployment: Deployment, command: str) -> None:
    """Refuse to redeploy what the circuit breaker rolled back (apply without --tag applies the
    state's tag, the failed one) or to roll the service while the state disagrees with it."""
    outputs = deployment.outputs
    applied = outputs.get("task_definition_arn")
    cluster, service = outputs.get("cluster_name"), outputs.get("service_name")
    if not (applied and cluster and service):
        return  # nothing applied yet
    if (deployment.args.cluster or cluster, deployment.args.service or service) != (cluster, service):
        return  # --cluster/--service name another service than the state's
    found = rolled_back(aws_client("ecs", deployment.region()), cluster, service, applied,
                        outputs.get("image_tag") or "?")
    if found is None:
        return
    if found.running_tag == found.applied_tag:
        cause = (f"the last apply (task definition {found.applied_task_definition}) was rolled back to "
                 f"{found.running_task_definition}; both run image {found.running_tag}, so the settings "
                 "(service_environment, task_size, ...) of that apply failed")
        adopt = ("fix the settings, then `deploy.sh --tag {tag} apply`; see why the tasks failed with "
                 f"`aws logs tail /ecs/{service} --since 1h`").format(tag=found.running_tag)
    else:
        cause = (f"the service runs image {found.running_tag} ({found.running_task_definition}), but the last "
                 f"apply deployed {found.applied_tag} ({found.applied_task_definition}): the deployment circuit "
                 f"breaker rolled {found.applied_tag} back")
        adopt = (f"adopt the running image with `deploy.sh --tag {found.running_tag} apply`, or deploy a fixed "
                 f"version with `deploy.sh --tag VERSION apply`; see why {found.applied_tag}'s tasks failed with "
                 f"`aws logs tail /ecs/{service} --since 1h`")
    consequence = ("`apply` without --tag would deploy the failed image again" if command == "apply"
                   else "`roll` would restart the rolled-back version while Terraform's state names the failed one")
    raise DeployError(f"{cause}. {consequence}. To go on, {adopt}", EXIT_PREREQUISITE)


def rollback_check_plan(deployment: Deployment, command: str) -> Plan[None]:
    cluster = deployment.args.cluster or deployment.outputs.get("cluster_name") or "<cluster>"
    service = deployment.args.service or deployment.outputs.get("service_name") or "<service>"
    yield ApiCall(f"aws ecs describe-services --cluster {cluster} --services {service}"
                  "  # the service must run the task definition Terraform applied (no rollback since)",
                  lambda: require_not_rolled_back(deployment, command))


def service_target(deployment: Deployment) -> tuple[str, str]:
    args, outputs = deployment.args, deployment.outputs
    cluster = args.cluster or outputs.get("cluster_name")
    service = args.service or outputs.get("service_name")
    if not cluster or not service:
        raise DeployError("no ECS cluster/service: run `deploy.sh apply` first, or pass --cluster and --service",
                          EXIT_PREREQUISITE)
    return cluster, service


def deployment_in_progress(ecs: Any, cluster: str, service: str) -> str | None:
    """The primary deployment's id while it is still rolling out, else None."""
    current = ecs.describe_services(cluster=cluster, services=[service])["services"]
    primary = next((d for d in current[0]["deployments"] if d["status"] == "PRIMARY"), None) if current else None
    return primary["id"] if primary and primary.get("rolloutState") == "IN_PROGRESS" else None


def force_new_deployment(ecs: Any, cluster: str, service: str) -> str:
    response = ecs.update_service(cluster=cluster, service=service, forceNewDeployment=True)
    return next(d for d in response["service"]["deployments"] if d["status"] == "PRIMARY")["id"]


def wait_until_stable(ecs: Any, cluster: str, service: str, deployment_id: str, timeout_s: float,
                      poll_s: float, sleep: Callable[[float], None] = time.sleep,
                      clock: Callable[[], float] = time.monotonic) -> dict[str, Any]:
    """Wait until `deployment_id` is the only deployment and all its tasks run.

    Raises DeployError (exit 3) when ECS marks the deployment FAILED (the circuit breaker
    gave up on it and, with rollback on, went back to the previous task definition), when
    the service disappears, or on timeout.
    """
    deadline = clock() + timeout_s
    last_note = ""
    while True:
        described = ecs.describe_services(cluster=cluster, services=[service])
        if not described.get("services") or described["services"][0].get("status") != "ACTIVE":
            raise DeployError(f"service {service} in cluster {cluster} is missing or inactive", EXIT_ROLLOUT_FAILED)
        svc = described["services"][0]
        deployments = svc.get("deployments", [])
        ours = next((d for d in deployments if d.get("id") == deployment_id), None)
        primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
        events = [e.get("message", "") for e in svc.get("events", [])[:5]]

        if ours is None or ours.get("rolloutState") == "FAILED" or (primary and primary.get("id") != deployment_id):
            reason = (ours or {}).get("rolloutStateReason") or "the deployment was replaced"
            rolled_back_to = (primary or {}).get("taskDefinition", "?")
            raise DeployError(
                f"deployment {deployment_id} FAILED: {reason}\n"
                f"The circuit breaker rolled the service back to {rolled_back_to}.\n"
                "Recent service events:\n" + "\n".join(f"  - {m}" for m in events) +
                f"\nSee the task logs: aws logs tail /ecs/{service} --since 30m",
                EXIT_ROLLOUT_FAILED,
            )
        if (ours.get("rolloutState") == "COMPLETED" and len(deployments) == 1
                and svc.get("runningCount") == svc.get("desiredCount")):
            say(f"# service {service} is stable: {svc['runningCount']}/{svc['desiredCount']} tasks on "
                f"{ours.get('taskDefinition')}")
            return svc
        note = (f"# waiting: {ours.get('rolloutState', '?')}, running {ours.get('runningCount', 0)}/"
                f"{ours.get('desiredCount', 0)}, {len(deployments)} deployment(s)")
        if note != last_note:
            say(note)
            last_note = note
        if clock() >= deadline:
            raise DeployError(
                f"service {service} did not become stable within {timeout_s:.0f}s ({note.lstrip('# ')}).\n"
                "Recent service events:\n" + "\n".join(f"  - {m}" for m in events),
                EXIT_ROLLOUT_FAILED,
            )
        sleep(poll_s)


def roll_plan(deployment: Deployment, after_apply: bool) -> Plan[None]:
    """Force a new deployment and wait until it is stable; right after an apply, wait for the
    deployment the apply usually started instead (each deployment reloads the model)."""
    args = deployment.args
    yield Note("==> roll: new ECS deployment")
    cluster, service = yield Lookup("the ECS service", lambda: service_target(deployment),
                                    dry_result=(args.cluster or "<cluster>", args.service or "<service>"))

    def ecs() -> Any:
        return aws_client("ecs", deployment.region())

    timeout = f"(timeout {args.timeout:.0f}s)"
    started = None
    if not after_apply:
        yield from rollback_check_plan(deployment, "roll")
    if after_apply:
        started = yield ApiCall(f"aws ecs describe-services --cluster {cluster} --services {service}"
                                "  # the deployment apply started, when it is still in progress:",
                                lambda: deployment_in_progress(ecs(), cluster, service),
                                dry_result="<deployment-id>")
    if started:
        yield Note(f"# apply started deployment {started}; waiting for it {timeout}",
                   dry_run_text="# (only when apply started no deployment, e.g. the tag was already deployed: "
                                f"aws ecs update-service --cluster {cluster} --service {service} "
                                "--force-new-deployment, then wait)")
    else:
        started = yield ApiCall(f"aws ecs update-service --cluster {cluster} --service {service} "
                                "--force-new-deployment",
                                lambda: force_new_deployment(ecs(), cluster, service),
                                dry_result="<deployment-id>")
        yield Note(f"# deployment {started} started; waiting for it to become stable {timeout}")
    yield ApiCall(f"aws ecs wait services-stable --cluster {cluster} --services {service}"
                  "  # polled; fails if the circuit breaker rolls back",
                  lambda: wait_until_stable(ecs(), cluster, service, started, args.timeout, args.poll_interval))
