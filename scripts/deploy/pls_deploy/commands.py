"""The six commands as plans: `build` and `push` (image.py), `roll` (ecs.py), and here `apply`,
`destroy` and `all`, which builds, pushes, applies and rolls."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from pls_deploy.ecs import roll_plan, rollback_check_plan
from pls_deploy.image import build_plan, push_latest_plan, push_plan, require_image_in_ecr
from pls_deploy.plans import EXIT_PREREQUISITE, ApiCall, DeployError, Lookup, Note, Plan
from pls_deploy.stack import Deployment, StackOutputs, init_plan, repository_name, terraform, terraform_apply


def deployed_tag(outputs: StackOutputs) -> str:
    """The tag the stack runs now. Never the newest local bento: it may not have been pushed."""
    if outputs.get("image_tag"):
        return outputs.get("image_tag")
    raise DeployError("no image tag to apply: the stack runs none yet. Pass --tag VERSION (a version "
                      "`deploy.sh push` pushed), or run `deploy.sh all`", EXIT_PREREQUISITE)


def apply_plan(deployment: Deployment, tag: str | None) -> Plan[None]:
    """terraform apply of `tag` (in `all`: the one just built and pushed), else of the tag the
    stack runs now."""
    args, outputs = deployment.args, deployment.outputs
    yield Note("==> apply: terraform")
    if not tag:
        yield from rollback_check_plan(deployment, "apply")
    version = tag or (yield Lookup("the deployed tag", lambda: deployed_tag(outputs), dry_result="<deployed-tag>"))
    repository_url = args.repository_url or outputs.get("ecr_repository_url")
    name = repository_name(repository_url) if repository_url else deployment.stack_name()
    yield ApiCall(f"aws ecr describe-images --repository-name {name} --image-ids imageTag={version}"
                  "  # the tag must be in ECR", lambda: require_image_in_ecr(deployment, repository_url, version))
    yield from init_plan(deployment)
    yield terraform_apply(args, version)
    outputs.forget()
    if outputs.get("api_url"):
        yield Note(f"# API: {outputs.get('api_url')}")


def destroy_plan(deployment: Deployment, tag: str | None) -> Plan[None]:
    """Lift the deletion guards first, then destroy. The guards (ALB deletion protection, the
    non-empty-repository refusal) live in the state, so a targeted apply lifts them; only on
    guarded resources the state has: a targeted apply of a missing one would create it (and
    its VPC), the opposite of what destroy is for."""
    args = deployment.args
    yield Note("==> destroy: everything terraform/ created")
    image_tag = tag or deployment.outputs.get("image_tag") or "destroy"
    guarded = deployment.targets("guarded")
    guards_off = [f"-var={setting}" for setting in deployment.targets("guards_off")]
    yield from init_plan(deployment)
    in_state = yield replace(terraform(args, "state", "list"), capture=True,
                             empty_if_failed_with="No state file was found", dry_result="\n".join(guarded))
    yield Note("", dry_run_text=f"# (of {', '.join(guarded)}: only those `state list` shows are targeted)")
    targets = [address for address in guarded if address in in_state.split()]
    if targets:
        yield terraform_apply(args, image_tag, *[f"-target={address}" for address in targets], *guards_off)
    yield terraform_apply(args, image_tag, *guards_off, verb="destroy")


def all_plan(deployment: Deployment) -> Plan[None]:
    version = yield from build_plan(deployment, deployment.args.tag)
    yield from push_plan(deployment, version)
    yield from apply_plan(deployment, version)
    yield from roll_plan(deployment, after_apply=True)


PLANS: dict[str, Callable[[Deployment], Plan[None]]] = {
    "build": lambda deployment: build_plan(deployment, deployment.args.tag),
    "push": push_latest_plan,
    "apply": lambda deployment: apply_plan(deployment, deployment.args.tag),
    "roll": lambda deployment: roll_plan(deployment, after_apply=False),
    "all": all_plan,
    "destroy": lambda deployment: destroy_plan(deployment, deployment.args.tag),
}
