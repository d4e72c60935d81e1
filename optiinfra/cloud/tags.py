"""EC2 tag keys OptiInfra reads and writes: tags are how it finds a workload's instances and, after a
crash or retry, the instances its own steps launched."""

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from mypy_boto3_ec2.type_defs import TagTypeDef

CUSTOMER = "optiinfra:customer"
WORKLOAD = "optiinfra:workload"
MANAGED_BY = "optiinfra:managed-by"
STEP_KEY = "optiinfra:step-key"
"""Idempotency key of the execution step that launched the instance."""
REPLACES = "optiinfra:replaces"
"""Id of the instance a launched replacement takes over from."""
NAME = "Name"
AUTOSCALING_GROUP = "aws:autoscaling:groupName"
"""Set by Auto Scaling on every instance a group launches or attaches."""

MANAGED_BY_OPTIINFRA = "optiinfra"
AWS_RESERVED_PREFIX = "aws:"
"""Tags under this prefix are set by AWS itself and are refused in a launch request."""


def to_aws_tags(tags: Mapping[str, str]) -> list["TagTypeDef"]:
    """The list-of-pairs shape every EC2 API takes."""
    return [{"Key": key, "Value": value} for key, value in tags.items()]


def from_aws_tags(tags: Iterable[Mapping[str, object]] | None) -> dict[str, str]:
    return {str(tag["Key"]): str(tag.get("Value", "")) for tag in tags or () if "Key" in tag}


def copyable_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """The tags a replacement may inherit: everything except AWS-reserved ones."""
    return {key: value for key, value in tags.items() if not key.startswith(AWS_RESERVED_PREFIX)}
