"""AWS failures surface as CloudActionError, marked retryable only where trying again can help."""

import pickle
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from optiinfra.cloud.ec2 import SIMULATOR_CREDENTIALS, CloudActionError, Ec2Fleet, to_cloud_action_error
from optiinfra.domain.enums import PurchaseOption
from tests.support.cloud import SeededCloud


def _client_error(code: str, status: int = 400) -> ClientError:
    response: Any = {
        "Error": {"Code": code, "Message": f"{code} happened"},
        "ResponseMetadata": {"HTTPStatusCode": status},
    }
    return ClientError(response, "RunInstances")


@pytest.mark.parametrize(
    ("code", "status", "retryable"),
    [
        ("InsufficientInstanceCapacity", 500, True),
        ("InsufficientInstanceCapacity", 400, True),
        ("IncorrectInstanceState", 400, True),
        ("RequestLimitExceeded", 503, True),
        ("SomethingNew", 503, True),
        ("InvalidInstanceID.NotFound", 400, False),
        ("InvalidParameterValue", 400, False),
        ("UnauthorizedOperation", 403, False),
        ("UnsupportedOperation", 400, False),
    ],
)
def test_client_errors_keep_their_code_and_say_if_retrying_helps(
    code: str, status: int, retryable: bool
) -> None:
    error = to_cloud_action_error(_client_error(code, status))

    assert (error.code, error.retryable) == (code, retryable)
    assert error.message == f"{code} happened"
    assert str(error) == f"{code}: {code} happened"


@pytest.fixture
def cloud(seeded_cloud_no_metrics: SeededCloud) -> SeededCloud:
    """These tests act on instances only; utilization history would just slow them down."""
    return seeded_cloud_no_metrics


def test_connection_failures_are_retryable_and_bad_requests_are_not() -> None:
    unreachable = to_cloud_action_error(EndpointConnectionError(endpoint_url="http://127.0.0.1:1"))
    invalid = to_cloud_action_error(ParamValidationError(report="MinCount missing"))

    assert (unreachable.code, unreachable.retryable) == ("ConnectionError", True)
    assert (invalid.code, invalid.retryable) == ("ParamValidationError", False)


def test_the_error_survives_pickling_for_process_pools() -> None:
    error = pickle.loads(pickle.dumps(CloudActionError("Throttling", "slow down", True)))

    assert (error.code, error.message, error.retryable) == ("Throttling", "slow down", True)


async def test_no_capacity_for_a_launch_is_a_retryable_error(cloud: SeededCloud) -> None:
    """Moto never runs out of capacity, so the answer AWS gives is injected into the real client."""
    fleet = cloud.fleet

    def no_capacity(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        http = AWSResponse("http://moto", 500, {}, None)  # type: ignore[arg-type]
        body = {"Error": {"Code": "InsufficientInstanceCapacity", "Message": "no g6e.xlarge spot capacity"}}
        return http, {**body, "ResponseMetadata": {"HTTPStatusCode": 500}}

    # A before-call handler that returns a response answers in place of the server; the stubs expect None.
    fleet.ec2.meta.events.register("before-call.ec2.RunInstances", no_capacity)  # type: ignore[arg-type]
    source_id = cloud.seeded.instance_ids["code-assist"][0]

    with pytest.raises(CloudActionError) as raised:
        await fleet.launch_replacement("wf/launch", source_id, "g6e.xlarge", PurchaseOption.SPOT)

    assert (raised.value.code, raised.value.retryable) == ("InsufficientInstanceCapacity", True)
    assert isinstance(raised.value.__cause__, ClientError)
    assert await fleet.find_launched("wf/launch") is None


async def test_a_state_that_never_comes_is_a_retryable_timeout(cloud: SeededCloud) -> None:
    fleet = cloud.make_fleet(wait_timeout_seconds=0.2)
    instance_id = cloud.seeded.instance_ids["chat-8b"][0]

    def stuck_stopping(parsed: dict[str, Any], **_: Any) -> None:
        for reservation in parsed.get("Reservations", []):
            for raw in reservation["Instances"]:
                if raw["InstanceId"] == instance_id and raw["State"]["Name"] == "stopped":
                    raw["State"] = {"Code": 64, "Name": "stopping"}

    fleet.ec2.meta.events.register("after-call.ec2.DescribeInstances", stuck_stopping)

    with pytest.raises(CloudActionError) as raised:
        await fleet.stop_instance(instance_id)

    assert (raised.value.code, raised.value.retryable) == ("WaitTimeout", True)
    assert "stopping" in raised.value.message


async def test_wait_polls_report_progress(cloud: SeededCloud) -> None:
    polls: list[int] = []
    fleet = Ec2Fleet(
        cloud.region,
        cloud.endpoint_url,
        SIMULATOR_CREDENTIALS,
        poll_interval_seconds=0.01,
        on_wait_poll=lambda: polls.append(1),
    )

    await fleet.stop_instance(cloud.seeded.instance_ids["chat-8b"][0])

    assert polls
