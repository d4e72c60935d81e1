"""The twin is reached over real HTTP, can be reset, and stops cleanly."""

from typing import TYPE_CHECKING

import pytest
from botocore.config import Config
from botocore.exceptions import EndpointConnectionError

from optiinfra.cloud.ec2 import SIMULATOR_CREDENTIALS, aws_session
from optiinfra.sim.moto_server import reset_moto, start_moto_server

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client


def _ec2(endpoint_url: str) -> "EC2Client":
    """No SDK retries, so a stopped server fails at once."""
    config = Config(retries={"max_attempts": 1})
    return aws_session("us-east-1", SIMULATOR_CREDENTIALS).client(
        "ec2", endpoint_url=endpoint_url, config=config
    )


def test_a_started_server_answers_boto3_over_http_until_stopped() -> None:
    with start_moto_server() as server:
        assert server.endpoint_url.startswith("http://127.0.0.1:")
        assert not server.endpoint_url.endswith(":0")
        ec2 = _ec2(server.endpoint_url)
        assert "Reservations" in ec2.describe_instances()
    with pytest.raises(EndpointConnectionError):
        ec2.describe_instances()
    server.stop()  # stopping twice is harmless


def test_reset_forgets_everything(moto_endpoint: str) -> None:
    ec2 = _ec2(moto_endpoint)
    image_id = ec2.describe_images(Owners=["amazon"], MaxResults=5)["Images"][0]["ImageId"]
    ec2.run_instances(ImageId=image_id, InstanceType="t3.micro", MinCount=1, MaxCount=1)
    assert ec2.describe_instances()["Reservations"]

    reset_moto(moto_endpoint)

    assert ec2.describe_instances()["Reservations"] == []
