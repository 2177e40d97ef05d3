"""The deploy CLI's rollout logic (pls_deploy/ecs.py) against scripted ECS answers: a stable
service, a circuit-breaker rollback, a timeout, and the tag a rolled-back service runs."""

from __future__ import annotations

import pytest

from pls_deploy.ecs import RolledBack, image_tag_of, rolled_back, wait_until_stable
from pls_deploy.plans import EXIT_ROLLOUT_FAILED, DeployError


class FakeEcs:
    """describe_services answers from a script of service states, one per call."""

    def __init__(self, states: list[dict]) -> None:
        self.states = states
        self.calls = 0

    def describe_services(self, cluster: str, services: list[str]) -> dict:
        state = self.states[min(self.calls, len(self.states) - 1)]
        self.calls += 1
        return {"services": [state]}


def _service(deployments: list[dict], running: int = 1, desired: int = 1, events: list[str] | None = None) -> dict:
    return {"status": "ACTIVE", "deployments": deployments, "runningCount": running, "desiredCount": desired,
            "events": [{"message": m} for m in (events or [])]}


def test_roll_reports_a_circuit_breaker_rollback() -> None:
    new = {"id": "ecs-svc/new", "status": "PRIMARY", "rolloutState": "IN_PROGRESS", "taskDefinition": "td:2",
           "runningCount": 0, "desiredCount": 1}
    old = {"id": "ecs-svc/old", "status": "ACTIVE", "rolloutState": "COMPLETED", "taskDefinition": "td:1",
           "runningCount": 1, "desiredCount": 1}
    failed = {**new, "status": "ACTIVE", "rolloutState": "FAILED",
              "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start."}
    rollback = {"id": "ecs-svc/rollback", "status": "PRIMARY", "rolloutState": "IN_PROGRESS",
                "taskDefinition": "td:1", "runningCount": 1, "desiredCount": 1}
    ecs = FakeEcs([
        _service([new, old]),
        _service([rollback, failed], events=["(service pls-service) rolling back to deployment ecs-svc/old."]),
    ])
    with pytest.raises(DeployError) as raised:
        wait_until_stable(ecs, "c", "pls-service", "ecs-svc/new", timeout_s=60, poll_s=0,
                                     sleep=lambda s: None)
    message = str(raised.value)
    assert raised.value.exit_code == EXIT_ROLLOUT_FAILED
    assert "FAILED: ECS deployment circuit breaker: tasks failed to start." in message
    assert "rolled the service back to td:1" in message
    assert "rolling back to deployment ecs-svc/old" in message


@pytest.mark.parametrize(("image", "tag"), [
    ("123456789012.dkr.ecr.us-east-1.amazonaws.com/pls-service:20260101.1", "20260101.1"),
    ("localhost:5000/team/pls-service:v2", "v2"),
    ("localhost:5000/pls-service", "latest"),
    ("pls-service:v3@sha256:abc", "v3"),
])
def test_the_running_tag_is_read_from_the_image_reference(image: str, tag: str) -> None:
    assert image_tag_of(image) == tag


class RolledBackEcs:
    """A service moved back to `running`, whose container runs `image`."""

    def __init__(self, running: str, image: str) -> None:
        self.running, self.image = running, image

    def describe_services(self, cluster: str, services: list[str]) -> dict:
        return {"services": [{"status": "ACTIVE", "taskDefinition": self.running}]}

    def describe_task_definition(self, taskDefinition: str) -> dict:
        return {"taskDefinition": {"containerDefinitions": [{"name": "pls-service", "image": self.image,
                                                             "essential": True}]}}


def test_a_rolled_back_service_is_told_from_a_settled_one() -> None:
    ecs = RolledBackEcs("td:1", "repo:20260101.1")
    found = rolled_back(ecs, "c", "s", "td:2", "20260202.1")
    assert found == RolledBack("td:1", "20260101.1", "td:2", "20260202.1")
    assert rolled_back(ecs, "c", "s", "td:1", "20260101.1") is None


def test_roll_times_out_with_the_last_state() -> None:
    stuck = {"id": "ecs-svc/new", "status": "PRIMARY", "rolloutState": "IN_PROGRESS", "taskDefinition": "td:2",
             "runningCount": 0, "desiredCount": 2}
    now = [0.0]

    def sleep(seconds: float) -> None:
        now[0] += 30

    with pytest.raises(DeployError) as raised:
        wait_until_stable(FakeEcs([_service([stuck], running=0, desired=2)]), "c", "s", "ecs-svc/new",
                                     timeout_s=100, poll_s=30, sleep=sleep, clock=lambda: now[0])
    assert raised.value.exit_code == EXIT_ROLLOUT_FAILED
    assert "did not become stable within 100s" in str(raised.value)
    assert "running 0/2" in str(raised.value)


def test_roll_accepts_a_completed_single_deployment() -> None:
    done = {"id": "ecs-svc/new", "status": "PRIMARY", "rolloutState": "COMPLETED", "taskDefinition": "td:2",
            "runningCount": 2, "desiredCount": 2}
    service = wait_until_stable(FakeEcs([_service([done], running=2, desired=2)]), "c", "s",
                                           "ecs-svc/new", timeout_s=10, poll_s=0, sleep=lambda s: None)
    assert service["runningCount"] == 2
