"""Start moto's server with the few gaps patched that the Terraform stack runs into.

Used as `moto_server(command=[sys.executable, "tests/support/aws/moto_wrapper.py"])`; the server
arguments (`-H 127.0.0.1 -p PORT`) pass through to `moto.server.main`.

Gaps closed here (moto 5.2.5), each found by applying terraform/ against moto:

* Application Auto Scaling has no ListTagsForResource / TagResource / UntagResource. The AWS
  provider reads the tags of every `aws_appautoscaling_target` after creating it; moto answers
  500 and the provider retries for many minutes. The wrapper adds the three actions with an
  in-memory tag store, and keeps the tags RegisterScalableTarget was given.
* ECS CreateService drops `healthCheckGracePeriodSeconds`, `availabilityZoneRebalancing` and
  `enableECSManagedTags`, so every later plan shows a diff on `aws_ecs_service`. The wrapper
  stores what was sent (UpdateService already keeps whatever it is given).
* EC2 DescribeSecurityGroupRules reports a rule's description only for CIDR rules; a rule
  that references a security group or a prefix list comes back without it, and every plan
  wants to add it again to `aws_vpc_security_group_{ingress,egress}_rule`. The wrapper keeps
  the description sent with those rules.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from moto.applicationautoscaling import models as aas_models
from moto.applicationautoscaling.responses import ApplicationAutoScalingResponse
from moto.ec2.models.security_groups import SecurityGroupRule
from moto.ecs.responses import EC2ContainerServiceResponse
from moto.server import main as moto_main

# ScalableTargetARN -> {key: value}. One moto process serves one test, so a module-level
# store is enough.
_SCALABLE_TARGET_TAGS: dict[str, dict[str, str]] = {}


def _target_arn(response: ApplicationAutoScalingResponse, namespace: str, resource_id: str,
                dimension: str) -> str | None:
    backend = response.applicationautoscaling_backend
    for target in backend.describe_scalable_targets(namespace, [resource_id], dimension):
        return target.arn
    return None


_original_register = ApplicationAutoScalingResponse.register_scalable_target
_original_deregister = ApplicationAutoScalingResponse.deregister_scalable_target


def _register_scalable_target(self: ApplicationAutoScalingResponse) -> str:
    body = _original_register(self)
    tags = self._get_param("Tags") or {}
    arn = json.loads(body)["ScalableTargetARN"]
    _SCALABLE_TARGET_TAGS.setdefault(arn, {}).update(tags)
    return body


def _deregister_scalable_target(self: ApplicationAutoScalingResponse) -> str:
    arn = _target_arn(
        self,
        self._get_param("ServiceNamespace"),
        self._get_param("ResourceId"),
        self._get_param("ScalableDimension"),
    )
    body = _original_deregister(self)
    if arn:
        _SCALABLE_TARGET_TAGS.pop(arn, None)
    return body


def _known_arn(arn: str) -> None:
    if arn not in _SCALABLE_TARGET_TAGS:
        # The shape AWS answers with for an unknown ARN.
        raise aas_models.AWSValidationException(f"Resource not found: {arn}")


def _list_tags_for_resource(self: ApplicationAutoScalingResponse) -> str:
    arn = self._get_param("ResourceARN")
    _known_arn(arn)
    return json.dumps({"Tags": _SCALABLE_TARGET_TAGS[arn]})


def _tag_resource(self: ApplicationAutoScalingResponse) -> str:
    arn = self._get_param("ResourceARN")
    _known_arn(arn)
    _SCALABLE_TARGET_TAGS[arn].update(self._get_param("Tags") or {})
    return json.dumps({})


def _untag_resource(self: ApplicationAutoScalingResponse) -> str:
    arn = self._get_param("ResourceARN")
    _known_arn(arn)
    for key in self._get_param("TagKeys") or []:
        _SCALABLE_TARGET_TAGS[arn].pop(key, None)
    return json.dumps({})


ApplicationAutoScalingResponse.register_scalable_target = _register_scalable_target
ApplicationAutoScalingResponse.deregister_scalable_target = _deregister_scalable_target
ApplicationAutoScalingResponse.list_tags_for_resource = _list_tags_for_resource
ApplicationAutoScalingResponse.tag_resource = _tag_resource
ApplicationAutoScalingResponse.untag_resource = _untag_resource


# CreateService parameters moto's Service model does not keep: request name -> attribute the
# response serializer reads.
_ECS_SERVICE_EXTRAS = {
    "healthCheckGracePeriodSeconds": "health_check_grace_period_seconds",
    "availabilityZoneRebalancing": "availability_zone_rebalancing",
    "enableECSManagedTags": "enable_ecs_managed_tags",
}

_original_create_service = EC2ContainerServiceResponse.create_service


def _create_service(self: EC2ContainerServiceResponse) -> Any:
    result = _original_create_service(self)
    services, _ = self.ecs_backend.describe_services(
        self._get_param("cluster", "default"), [self._get_param("serviceName")]
    )
    for service in services:
        for param, attribute in _ECS_SERVICE_EXTRAS.items():
            value = self._get_param(param)
            if value is not None:
                setattr(service, attribute, value)
    return result


EC2ContainerServiceResponse.create_service = _create_service


_original_rule_init = SecurityGroupRule.__init__


def _rule_init(self: SecurityGroupRule, *args: Any, **kwargs: Any) -> None:
    _original_rule_init(self, *args, **kwargs)
    # Positional order of moto's constructor: backend, protocol, group, from, to, ip_range,
    # source_group, prefix_list_id.
    source_group = kwargs.get("source_group", args[6] if len(args) > 6 else None) or {}
    prefix_list = kwargs.get("prefix_list_id", args[7] if len(args) > 7 else None) or {}
    self._other_description = source_group.get("Description") or prefix_list.get("Description")


def _rule_description(self: SecurityGroupRule) -> str | None:
    return self.ip_range.get("Description") or getattr(self, "_other_description", None)


SecurityGroupRule.__init__ = _rule_init
SecurityGroupRule.description = property(_rule_description)


if __name__ == "__main__":
    moto_main(sys.argv[1:])
