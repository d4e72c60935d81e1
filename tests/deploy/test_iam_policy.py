"""deploy/aws: the IAM policies are documents of the policy grammar, and their actions are exactly the boto3
calls the code makes (found with `ast`, named by botocore's service models), plus the few permissions AWS
checks on a call besides the call's own action, each tied to the call that needs it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.deploy import code_scan
from tests.deploy.support import DEPLOY, HERE

SCHEMA = json.loads((HERE / "schemas" / "iam-policy.schema.json").read_text(encoding="utf-8"))

IMPLIED: dict[str, set[str]] = {
    # RunInstances (and the spot group's launch template) name the source replica's instance profile.
    "iam:PassRole": {"ec2:RunInstances", "autoscaling:CreateAutoScalingGroup"},
    # RunInstances tags the replica at launch (TagSpecifications) and reservations are tagged (CreateTags).
    "ec2:CreateTags": {"ec2:RunInstances"},
    # CreateAutoScalingGroup with Tags is authorized for autoscaling:CreateOrUpdateTags too.
    "autoscaling:CreateOrUpdateTags": {"autoscaling:CreateAutoScalingGroup"},
}
"""Permission -> calls that make AWS check it; granted only while one of those calls is made."""

POLICIES = {
    "iam-policy.json": code_scan.production_files,
    "catalog-refresh-policy.json": code_scan.catalog_refresh_files,
}


@cache
def boto3_calls(name: str) -> dict[str, set[str]]:
    return code_scan.boto3_calls(POLICIES[name]())


def load(name: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads((DEPLOY / "aws" / name).read_text(encoding="utf-8"))
    return document


def allowed_actions(policy: dict[str, Any]) -> set[str]:
    actions: set[str] = set()
    for statement in policy["Statement"]:
        assert statement["Effect"] == "Allow"
        listed = statement["Action"]
        actions.update([listed] if isinstance(listed, str) else listed)
    return actions


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_is_a_policy_document(name: str) -> None:
    policy = load(name)
    jsonschema.Draft7Validator.check_schema(SCHEMA)
    jsonschema.Draft7Validator(SCHEMA).validate(policy)
    sids = [s["Sid"] for s in policy["Statement"] if "Sid" in s]
    assert len(sids) == len(set(sids)), "duplicate Sid"
    assert all("*" not in action for action in allowed_actions(policy)), "no wildcard actions"


def test_the_grammar_schema_refuses_what_iam_refuses() -> None:
    for broken in (
        {"Version": "2008-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:X", "Resource": "*"}]},
        {"Version": "2012-10-17", "Statement": [{"Effect": "Permit", "Action": "ec2:X", "Resource": "*"}]},
        {
            "Version": "2012-10-17",
            "Statement": [{"Effect": "Allow", "Action": "DescribeInstances", "Resource": "*"}],
        },
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ec2:X"}]},
    ):
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft7Validator(SCHEMA).validate(broken)


@pytest.mark.parametrize("name", sorted(POLICIES))
def test_grants_exactly_the_calls_the_code_makes(name: str) -> None:
    called = boto3_calls(name)
    assert called, "found no boto3 call: the scan is broken"
    implied = {permission for permission, needs in IMPLIED.items() if needs & set(called)}
    granted = allowed_actions(load(name))
    missing = {action: sorted(called[action]) for action in set(called) - granted}
    missing_implied = implied - granted
    extra = granted - set(called) - implied
    assert not missing, f"{name} lacks actions the code calls: {missing}"
    assert not missing_implied, f"{name} lacks permissions its calls need: {sorted(missing_implied)}"
    assert not extra, f"{name} grants actions no code calls: {sorted(extra)}"


def test_the_scan_finds_known_call_sites() -> None:
    """Spot checks against calls read by hand, one per way a client is reached."""
    called = boto3_calls("iam-policy.json")
    expected = {
        "ec2:DescribeInstances": "optiinfra/cloud/ec2.py",  # self.ec2 (annotated EC2Client), and a paginator
        "ec2:PurchaseReservedInstancesOffering": "optiinfra/cloud/reservations.py",  # via call_aws
        "autoscaling:PutLifecycleHook": "optiinfra/cloud/autoscaling.py",
        "cloudwatch:GetMetricStatistics": "optiinfra/cloud/ec2.py",
        "sts:AssumeRole": "optiinfra/connections/accounts.py",  # a local client, via asyncio.to_thread
        "kms:Decrypt": "optiinfra/connections/envelope.py",  # boto3.client("kms") handed to KmsMasterKey
    }
    for action, path in expected.items():
        assert any(site.startswith(path) for site in called[action]), action
    refresh = boto3_calls("catalog-refresh-policy.json")
    assert set(refresh) == {"pricing:GetProducts", "ec2:DescribeSpotPriceHistory"}


def test_the_policies_are_the_files_the_readme_names() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    for name in POLICIES:
        assert f"deploy/aws/{name}" in readme
    assert Path(DEPLOY / "aws" / "iam-policy.json").is_file()
