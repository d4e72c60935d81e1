"""The AWS account each customer's workloads are acted on in.

A customer with a connection is reached by assuming its role (STS AssumeRole with its external id, from the
worker's own credentials), in the workload's region; the temporary credentials are reused until five
minutes before they expire. A customer without one is acted on with the worker's default account, as
configured in settings (one account, one region), so a single-account deployment needs no connection."""

import asyncio
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import SecretStr

from optiinfra.cloud.autoscaling import ScalingGroups
from optiinfra.cloud.ec2 import (
    AwsCredentials,
    Ec2Fleet,
    adapter_credentials,
    aws_session,
    client_config,
    heartbeat_if_in_activity,
    wait_timeout_for,
)
from optiinfra.cloud.reservations import ReservedCapacity
from optiinfra.connections.model import CustomerConnection
from optiinfra.connections.reader import ConnectionReader, ConnectionUnusableError
from optiinfra.settings import Settings

ROLE_SESSION_SECONDS = 3600
REFRESH_MARGIN_S = 300.0


class AccountUnreachableError(ConnectionUnusableError):
    """The customer's account could not be reached: the message says why, for the step's record."""


@dataclass(frozen=True)
class AwsAccount:
    """One account in one region: the adapters the cloud activities act through."""

    fleet: Ec2Fleet
    scaling_groups: ScalingGroups
    reservations: ReservedCapacity

    @classmethod
    def build(
        cls, settings: Settings, region: str, endpoint_url: str | None, credentials: AwsCredentials | None
    ) -> "AwsAccount":
        fleet = Ec2Fleet(
            region,
            endpoint_url,
            credentials,
            wait_timeout_seconds=wait_timeout_for(settings),
            on_wait_poll=heartbeat_if_in_activity,
        )
        groups = ScalingGroups(
            region,
            endpoint_url,
            credentials,
            wait_timeout_seconds=wait_timeout_for(settings),
            on_call=heartbeat_if_in_activity,
        )
        return cls(fleet=fleet, scaling_groups=groups, reservations=ReservedCapacity(fleet.ec2))


@dataclass
class _Assumed:
    credentials: AwsCredentials
    expires_at: float
    accounts: dict[str, AwsAccount]


class CustomerAccounts:
    """`for_customer(customer_id, region)`: the account to act in. Built with only a default account (no
    store), every customer is acted on in it."""

    def __init__(
        self,
        default: AwsAccount,
        *,
        settings: Settings | None = None,
        connections: ConnectionReader | None = None,
    ) -> None:
        self._default = default
        self._settings = settings
        self._connections = connections
        self._assumed: dict[str, _Assumed] = {}
        self._lock = asyncio.Lock()

    async def for_customer(self, customer_id: str | None, region: str | None = None) -> AwsAccount:
        if customer_id is None or self._connections is None or self._settings is None:
            return self._default
        connection = await self._connections.get(customer_id)
        if connection is None or connection.spec.aws_role_arn is None:
            return self._default
        settings = self._settings
        region = region or settings.aws_region
        async with self._lock:
            assumed = self._assumed.get(customer_id)
            if assumed is None or assumed.expires_at - time.time() < REFRESH_MARGIN_S:
                assumed = await self._assume(connection)
                self._assumed[customer_id] = assumed
            if region not in assumed.accounts:
                endpoint = _endpoint(connection, settings)
                assumed.accounts[region] = AwsAccount.build(settings, region, endpoint, assumed.credentials)
            return assumed.accounts[region]

    async def _assume(self, connection: CustomerConnection) -> _Assumed:
        assert self._settings is not None and connection.spec.aws_role_arn is not None
        settings = self._settings
        external_id = connection.secrets.aws_external_id
        parameters: dict[str, object] = {
            "RoleArn": connection.spec.aws_role_arn,
            "RoleSessionName": f"optiinfra-{connection.customer_id}"[:64],
            "DurationSeconds": ROLE_SESSION_SECONDS,
        }
        if external_id is not None:
            parameters["ExternalId"] = external_id.get_secret_value()
        sts = aws_session(settings.aws_region, adapter_credentials(settings, None)).client(
            "sts", endpoint_url=_endpoint(connection, settings), config=client_config()
        )
        try:
            answer = await asyncio.to_thread(sts.assume_role, **parameters)
        except Exception as error:  # botocore's ClientError and connection errors alike
            raise AccountUnreachableError(
                f"could not assume {connection.spec.aws_role_arn} for {connection.customer_id}: {error}"
            ) from error
        issued = answer["Credentials"]
        expiration = issued["Expiration"]
        expires = (
            expiration.timestamp() if isinstance(expiration, datetime) else time.time() + ROLE_SESSION_SECONDS
        )
        return _Assumed(
            credentials=AwsCredentials(
                access_key_id=issued["AccessKeyId"],
                secret_access_key=SecretStr(issued["SecretAccessKey"]),
                session_token=SecretStr(issued["SessionToken"]),
            ),
            expires_at=min(expires, datetime.now(UTC).timestamp() + ROLE_SESSION_SECONDS),
            accounts={},
        )


def _endpoint(connection: CustomerConnection, settings: Settings) -> str | None:
    """The connection's own endpoint, else the worker's (a VPC endpoint, or the embedded twin)."""
    if connection.spec.aws_endpoint_url is not None:
        return str(connection.spec.aws_endpoint_url).rstrip("/")
    return settings.aws_endpoint_url or None
