"""The EC2 and CloudWatch adapter: discovers a workload's instances, reads their utilization and
performs the saga's steps.

Every action is safe to retry: it reads the current state first, does only what is still missing,
waits until the target state is reached, and says whether there was anything to do. Launches carry an
EC2 ClientToken derived from the step's key and the key itself as a tag, so a retried launch finds the
instance of its earlier attempt instead of starting a second one.

boto3 is synchronous; each call runs in a worker thread (`asyncio.to_thread`) so the adapter can be
awaited from Temporal activities and the API without blocking the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, ParamSpec, TypeVar, cast

import boto3
import botocore.loaders
import botocore.session
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as BotoConnectionError
from pydantic import BaseModel, SecretStr
from temporalio import activity

from optiinfra.cloud import tags
from optiinfra.cloud.call_rate import process_call_rates
from optiinfra.domain.cloudwatch import (
    CPU_UTILIZATION,
    GPU_MEMORY_TOTAL,
    GPU_MEMORY_USED,
    GPU_UTILIZATION,
    MEMORY_UTILIZATION,
    CloudWatchMetric,
)
from optiinfra.domain.enums import PurchaseOption, StepAction, UtilizationMetric
from optiinfra.domain.fleet import Instance, MetricSeries
from optiinfra.domain.series import PeriodGrid, as_utc, even_series
from optiinfra.settings import Settings

if TYPE_CHECKING:
    from mypy_boto3_cloudwatch.client import CloudWatchClient
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.literals import InstanceTypeType
    from mypy_boto3_ec2.type_defs import (
        BlockDeviceMappingTypeDef,
        EbsBlockDeviceTypeDef,
        FilterTypeDef,
        InstanceTypeDef,
        RunInstancesRequestTypeDef,
    )

logger = logging.getLogger(__name__)

P = ParamSpec("P")
T = TypeVar("T")

LIVE_STATES = frozenset({"pending", "running", "stopping", "stopped"})
"""States in which an instance belongs to its workload (and may cost money)."""
GONE_STATES = frozenset({"shutting-down", "terminated"})

RETRYABLE_ERROR_CODES = frozenset(
    {
        "InsufficientInstanceCapacity",
        "InsufficientHostCapacity",
        "InsufficientCapacity",
        "InsufficientReservedInstanceCapacity",
        "IncorrectInstanceState",
        "IncorrectState",
        "RequestLimitExceeded",
        "Throttling",
        "ThrottlingException",
        "InternalError",
        "InternalFailure",
        "ServiceUnavailable",
        "Unavailable",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
"""AWS error codes that describe a passing condition (capacity, a state transition, throttling, an AWS
fault): trying the same request again later may succeed. Every other code is treated as permanent."""

CONNECTION_ERROR = "ConnectionError"
WAIT_TIMEOUT = "WaitTimeout"
NOT_MANAGED = "NotManaged"
REPLACEMENT_TERMINATED = "ReplacementTerminated"
UNEXPECTED_STATE = "UnexpectedInstanceState"
INCORRECT_STATE = "IncorrectInstanceState"
NOT_FOUND = "InvalidInstanceID.NotFound"

WAIT_MARGIN_SECONDS = 15
MAX_DATAPOINTS_PER_REQUEST = 1440
"""GetMetricStatistics returns at most this many datapoints per call."""


def heartbeat_if_in_activity() -> None:
    """Long waits (a GPU instance boots in minutes) heartbeat, so a dead worker is noticed quickly."""
    if activity.in_activity():
        activity.heartbeat()


class CloudActionError(Exception):
    """A cloud call or action that failed; `retryable` tells the caller whether trying again may help."""

    def __init__(self, code: str, message: str, retryable: bool) -> None:
        super().__init__(code, message, retryable)
        self.code = code
        self.message = message
        self.retryable = retryable

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"


def to_cloud_action_error(error: Exception) -> CloudActionError:
    """Map a botocore failure to the typed error the activities turn into retry decisions."""
    if isinstance(error, CloudActionError):
        return error
    if isinstance(error, ClientError):
        details = error.response.get("Error", {})
        code = details.get("Code", "Unknown")
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
        retryable = code in RETRYABLE_ERROR_CODES or status >= 500
        return CloudActionError(code, details.get("Message", str(error)), retryable)
    if isinstance(error, BotoConnectionError | HTTPClientError):
        return CloudActionError(CONNECTION_ERROR, str(error), True)
    return CloudActionError(type(error).__name__, str(error), False)


async def call_aws(func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """Run one blocking boto3 interaction off the event loop, with AWS errors made typed."""
    try:
        return await asyncio.to_thread(func, *args, **kwargs)
    except (ClientError, BotoCoreError) as error:
        raise to_cloud_action_error(error) from error


class AwsCredentials(BaseModel):
    """Explicit credentials for one adapter. Without them boto3's default chain applies."""

    access_key_id: str
    secret_access_key: SecretStr
    session_token: SecretStr | None = None


SIMULATOR_CREDENTIALS = AwsCredentials(
    access_key_id="optiinfra-sim", secret_access_key=SecretStr("optiinfra-sim")
)
"""What the adapter presents to the embedded moto server, which accepts anything."""


_SHARED_MODEL_LOADER = botocore.loaders.create_loader()
"""Parsing the EC2 API model takes ~0.2 s; sessions share one loader (and its cache) instead."""


def aws_session(region: str, credentials: AwsCredentials | None = None) -> boto3.session.Session:
    """A boto3 session of its own, so explicit credentials never leak into the process environment; its
    calls keep to the account's rate (`optiinfra.cloud.call_rate`)."""
    core = botocore.session.get_session()
    core.register_component("data_loader", _SHARED_MODEL_LOADER)
    access_key_id = credentials.access_key_id if credentials is not None else None

    def wait_for_rate(**_: object) -> None:
        # Every API call of the session's clients (paginated pages and waiter polls included), in the
        # thread that makes it: the account's calls a second stay under its rate.
        bucket = process_call_rates().aws(access_key_id, region)
        if bucket is not None:
            bucket.acquire_blocking()

    core.register("before-call", wait_for_rate)
    if credentials is None:
        return boto3.session.Session(region_name=region, botocore_session=core)
    token = credentials.session_token.get_secret_value() if credentials.session_token else None
    return boto3.session.Session(
        aws_access_key_id=credentials.access_key_id,
        aws_secret_access_key=credentials.secret_access_key.get_secret_value(),
        aws_session_token=token,
        region_name=region,
        botocore_session=core,
    )


def adapter_credentials(settings: Settings, credentials: AwsCredentials | None) -> AwsCredentials | None:
    """The credentials an adapter built from settings presents: the given ones, else dummy ones for the
    embedded profile's simulator endpoint, else None (boto3's default chain, for real AWS or a VPC
    endpoint)."""
    if credentials is None and settings.aws_endpoint_url and settings.profile == "embedded":
        return SIMULATOR_CREDENTIALS
    return credentials


def wait_timeout_for(settings: Settings) -> float:
    """Waits end a little before the activity's own timeout, so a slow change fails as a retryable
    `WaitTimeout` (and the retried, idempotent action simply waits on) instead of a killed activity."""
    return max(settings.activity_timeout_seconds - WAIT_MARGIN_SECONDS, WAIT_MARGIN_SECONDS)


def client_config() -> Config:
    """Few SDK-level retries: the Temporal activity retry policy is the main retry loop."""
    return Config(retries={"mode": "standard", "max_attempts": 3}, connect_timeout=5, read_timeout=60)


def client_token(step_key: str) -> str:
    """EC2 ClientTokens are at most 64 ASCII characters; a SHA-256 hex digest is exactly that."""
    return hashlib.sha256(step_key.encode()).hexdigest()


def literal_filter_value(value: str) -> str:
    """EC2 filter values treat `*` and `?` as wildcards; a workflow id in a step key may contain them."""
    return value.replace("\\", "\\\\").replace("*", "\\*").replace("?", "\\?")


FETCHED_METRICS = (CPU_UTILIZATION, GPU_UTILIZATION, GPU_MEMORY_USED, GPU_MEMORY_TOTAL, MEMORY_UTILIZATION)
PERCENT_METRICS = {
    UtilizationMetric.GPU_UTILIZATION: GPU_UTILIZATION,
    UtilizationMetric.CPU_UTILIZATION: CPU_UTILIZATION,
    UtilizationMetric.MEMORY_UTILIZATION: MEMORY_UTILIZATION,
}


def gpu_memory_percent(used: dict[int, float], total: dict[int, float]) -> dict[int, float]:
    return {index: 100.0 * value / total[index] for index, value in used.items() if total.get(index, 0.0) > 0}


def instance_from_aws(raw: InstanceTypeDef) -> Instance:
    lifecycle = PurchaseOption.SPOT if raw.get("InstanceLifecycle") == "spot" else PurchaseOption.ON_DEMAND
    return Instance(
        instance_id=raw["InstanceId"],
        instance_type=raw["InstanceType"],
        lifecycle=lifecycle,
        state=raw["State"]["Name"],
        image_id=raw["ImageId"],
        subnet_id=raw.get("SubnetId"),
        private_ip=raw.get("PrivateIpAddress"),
        availability_zone=raw.get("Placement", {}).get("AvailabilityZone"),
        launch_time=as_utc(raw["LaunchTime"]) if "LaunchTime" in raw else None,
        tags=tags.from_aws_tags(raw.get("Tags")),
    )


class ActionResult(BaseModel):
    """What one action did. `already_in_target_state` means it found nothing left to do."""

    action: StepAction
    instance_ids: list[str]
    already_in_target_state: bool
    summary: str


class LaunchResult(ActionResult):
    instance_id: str
    instance_type: str
    lifecycle: PurchaseOption


class Ec2Fleet:
    """One region of one AWS account (or of the moto twin, when `endpoint_url` points at it)."""

    def __init__(
        self,
        region: str,
        endpoint_url: str | None = None,
        credentials: AwsCredentials | None = None,
        *,
        poll_interval_seconds: float = 5.0,
        wait_timeout_seconds: float = 900.0,
        max_concurrent_requests: int = 8,
        on_wait_poll: Callable[[], None] | None = None,
    ) -> None:
        """`on_wait_poll` runs on each poll while an action waits for a state, e.g.
        `temporalio.activity.heartbeat` so long GPU boots do not look like a dead worker.
        `max_concurrent_requests` bounds the parallel CloudWatch reads of one `read_utilization`."""
        session = aws_session(region, credentials)
        self.region = region
        self.endpoint_url = endpoint_url
        self.ec2: EC2Client = session.client("ec2", endpoint_url=endpoint_url, config=client_config())
        self.cloudwatch: CloudWatchClient = session.client(
            "cloudwatch", endpoint_url=endpoint_url, config=client_config()
        )
        self._poll_interval = poll_interval_seconds
        self._wait_timeout = wait_timeout_seconds
        self._max_concurrent_requests = max_concurrent_requests
        self._on_wait_poll = on_wait_poll

    @classmethod
    def from_settings(cls, settings: Settings, credentials: AwsCredentials | None = None) -> Ec2Fleet:
        """In the embedded profile an endpoint override points at the twin's simulator, which gets dummy
        credentials; otherwise (real AWS, or a VPC endpoint) boto3's default credential chain applies.
        Waits end before the activity's timeout (`wait_timeout_for`)."""
        return cls(
            settings.aws_region,
            settings.aws_endpoint_url or None,
            adapter_credentials(settings, credentials),
            wait_timeout_seconds=wait_timeout_for(settings),
            on_wait_poll=heartbeat_if_in_activity,
        )

    # ----------------------------------------------------------------------------------- discovery

    async def describe_workload_instances(self, customer_id: str, workload_id: str) -> list[Instance]:
        """The workload's instances that exist and may cost money, oldest first."""
        filters: list[FilterTypeDef] = [
            {"Name": f"tag:{tags.CUSTOMER}", "Values": [literal_filter_value(customer_id)]},
            {"Name": f"tag:{tags.WORKLOAD}", "Values": [literal_filter_value(workload_id)]},
            {"Name": "instance-state-name", "Values": sorted(LIVE_STATES)},
        ]
        return await self._call(self._describe_filtered, filters)

    async def describe_customer_instances(self, customer_id: str) -> list[Instance]:
        """Every instance of the customer's workloads that exists and may cost money, oldest first."""
        filters: list[FilterTypeDef] = [
            {"Name": f"tag:{tags.CUSTOMER}", "Values": [literal_filter_value(customer_id)]},
            {"Name": "instance-state-name", "Values": sorted(LIVE_STATES)},
        ]
        return await self._call(self._describe_filtered, filters)

    async def get_instance(self, instance_id: str) -> Instance | None:
        """None when EC2 does not know the id (terminated instances stay visible for about an hour)."""
        try:
            return await self._call(self._describe_one, instance_id)
        except CloudActionError as error:
            if error.code == NOT_FOUND:
                return None
            raise

    async def find_launched(self, step_key: str) -> Instance | None:
        """The instance a launch step started: a live one if any, else the latest gone one."""
        launched = await self._launched_by(step_key)
        live = [instance for instance in launched if instance.state in LIVE_STATES]
        if live:
            return live[0]
        return launched[-1] if launched else None

    # --------------------------------------------------------------------------------- utilization

    async def read_utilization(
        self, instance_ids: Sequence[str], start: datetime, end: datetime, period_seconds: int = 3600
    ) -> list[MetricSeries]:
        """Per-period averages of each utilization metric over the whole periods in [start, end).

        Uses GetMetricStatistics, one call per instance and metric (see `even_series` for gaps)."""
        grid = PeriodGrid.covering(start, end, period_seconds)
        if grid.count == 0:
            return []
        requests = [(instance_id, metric) for instance_id in instance_ids for metric in FETCHED_METRICS]
        limit = asyncio.Semaphore(self._max_concurrent_requests)  # per call: bound to the caller's loop
        fetched = await asyncio.gather(
            *(self._fetch_points(iid, metric, grid, limit) for iid, metric in requests)
        )
        points = dict(zip(requests, fetched, strict=True))
        series: list[MetricSeries] = []
        for instance_id in instance_ids:
            series.extend(self._instance_series(instance_id, grid, points))
        return series

    @staticmethod
    def _instance_series(
        instance_id: str, grid: PeriodGrid, points: dict[tuple[str, CloudWatchMetric], dict[int, float]]
    ) -> list[MetricSeries]:
        per_metric = {metric: points[instance_id, source] for metric, source in PERCENT_METRICS.items()}
        per_metric[UtilizationMetric.GPU_MEMORY_UTILIZATION] = gpu_memory_percent(
            points[instance_id, GPU_MEMORY_USED], points[instance_id, GPU_MEMORY_TOTAL]
        )
        found = (even_series(instance_id, metric, grid, values) for metric, values in per_metric.items())
        return [series for series in found if series is not None]

    async def _fetch_points(
        self, instance_id: str, metric: CloudWatchMetric, grid: PeriodGrid, limit: asyncio.Semaphore
    ) -> dict[int, float]:
        points: dict[int, float] = {}
        for chunk_start, chunk_end in grid.chunks(MAX_DATAPOINTS_PER_REQUEST):
            async with limit:
                datapoints = await self._call(
                    self._metric_averages, instance_id, metric, chunk_start, chunk_end, grid.period_seconds
                )
            for timestamp, value in datapoints:
                index = grid.index_of(timestamp)
                if index is not None:
                    points[index] = value
        return points

    def _metric_averages(
        self, instance_id: str, metric: CloudWatchMetric, start: datetime, end: datetime, period_seconds: int
    ) -> list[tuple[datetime, float]]:
        response = self.cloudwatch.get_metric_statistics(
            Namespace=metric.namespace,
            MetricName=metric.name,
            Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
            StartTime=start,
            EndTime=end,
            Period=period_seconds,
            Statistics=["Average"],
        )
        return [
            (point["Timestamp"], point["Average"]) for point in response["Datapoints"] if "Average" in point
        ]

    # ------------------------------------------------------------------------------------- actions

    async def launch_replacement(
        self, step_key: str, source_instance_id: str, instance_type: str, lifecycle: PurchaseOption
    ) -> LaunchResult:
        """Start one instance like the source (image, subnet, security groups, profile, user data, root
        volume, tags) with a new type and purchase option, and wait until it runs."""
        earlier = await self._launched_by(step_key)
        live = [instance for instance in earlier if instance.state in LIVE_STATES]
        if live:
            if len(live) > 1:
                logger.warning("step %s launched %d instances; using the oldest", step_key, len(live))
            self._refuse_different_launch(live[0], step_key, instance_type, lifecycle)
            _, running = await self._ensure_running(live[0].instance_id)
            return self._launch_result(running, already=True)
        if earlier:
            raise CloudActionError(
                REPLACEMENT_TERMINATED,
                f"the instance launched by step {step_key} ({earlier[-1].instance_id}) is gone; "
                "a step key launches at most once",
                False,
            )
        request = await self._call(
            self._replacement_request, step_key, source_instance_id, instance_type, lifecycle
        )
        instance_id = await self._call(self._run_instance, request)
        running = await self._wait_for(instance_id, {"running"}, tolerate_missing=True)
        return self._launch_result(running, already=False)

    async def terminate_launched(self, step_key: str) -> ActionResult:
        """Compensation of a launch: terminate whatever that step launched; nothing launched is fine."""
        launched = await self._launched_by(step_key)
        ids = [instance.instance_id for instance in launched]
        live = [instance.instance_id for instance in launched if instance.state != "terminated"]
        if not live:
            summary = f"nothing launched by step {step_key} is left running"
            return ActionResult(
                action=StepAction.TERMINATE_LAUNCHED,
                instance_ids=ids,
                already_in_target_state=True,
                summary=summary,
            )
        await self._call(self._terminate, live)
        for instance_id in live:
            await self._wait_for(instance_id, {"terminated"})
        return ActionResult(
            action=StepAction.TERMINATE_LAUNCHED,
            instance_ids=ids,
            already_in_target_state=False,
            summary=f"terminated {', '.join(live)} launched by step {step_key}",
        )

    async def stop_instance(self, instance_id: str) -> ActionResult:
        instance = await self._managed_instance(instance_id)
        self._refuse_gone(instance, "stop")
        if instance.state in {"stopped", "stopping"}:
            await self._wait_for(instance_id, {"stopped"})
            return self._result(StepAction.STOP_INSTANCE, instance_id, True, f"{instance_id} is stopped")
        if instance.state == "pending":
            await self._wait_for(instance_id, {"running"})
        await self._call(self._stop, instance_id)
        await self._wait_for(instance_id, {"stopped"})
        return self._result(StepAction.STOP_INSTANCE, instance_id, False, f"stopped {instance_id}")

    async def start_instance(self, instance_id: str) -> ActionResult:
        already, _ = await self._ensure_running(instance_id)
        verb = "is running" if already else "started"
        return self._result(StepAction.START_INSTANCE, instance_id, already, f"{instance_id} {verb}")

    async def modify_instance_type(self, instance_id: str, instance_type: str) -> ActionResult:
        """Change the type of a stopped instance; an instance that already has the type is left alone."""
        instance = await self._managed_instance(instance_id)
        if instance.instance_type == instance_type:
            summary = f"{instance_id} already is a {instance_type}"
            return self._result(StepAction.MODIFY_INSTANCE_TYPE, instance_id, True, summary)
        if instance.state == "stopping":
            instance = await self._wait_for(instance_id, {"stopped"})
        if instance.state != "stopped":
            raise CloudActionError(
                INCORRECT_STATE,
                f"{instance_id} is {instance.state}; its type can only change while it is stopped",
                False,
            )
        await self._call(self._modify_type, instance_id, instance_type)
        changed = await self._call(self._describe_one, instance_id)
        if changed.instance_type != instance_type:
            raise CloudActionError(
                UNEXPECTED_STATE, f"{instance_id} is still a {changed.instance_type} after the change", True
            )
        summary = f"changed {instance_id} from {instance.instance_type} to {instance_type}"
        return self._result(StepAction.MODIFY_INSTANCE_TYPE, instance_id, False, summary)

    async def terminate_instance(self, instance_id: str) -> ActionResult:
        instance = await self._managed_instance(instance_id)
        if instance.state in GONE_STATES:
            await self._wait_for(instance_id, {"terminated"})
            return self._result(
                StepAction.TERMINATE_INSTANCE, instance_id, True, f"{instance_id} is terminated"
            )
        await self._call(self._terminate, [instance_id])
        await self._wait_for(instance_id, {"terminated"})
        return self._result(StepAction.TERMINATE_INSTANCE, instance_id, False, f"terminated {instance_id}")

    async def ensure_launch_template(
        self, name: str, source_instance_id: str, instance_type: str
    ) -> tuple[str, dict[str, str]]:
        """A launch template named `name` that starts instances like the source replica (image, security
        groups, key, profile, user data, root volume) as `instance_type`, made once; with the tags its
        instances must carry (the source's copyable tags). Returns (template id, tags)."""
        source = await self._managed_instance(source_instance_id)
        instance_tags = tags.copyable_tags(source.tags)
        existing = await self._call(self._launch_template_id, name)
        if existing is not None:
            return existing, instance_tags
        data = await self._call(self._template_data, source_instance_id, instance_type)
        return await self._call(self._create_template, name, data), instance_tags

    async def delete_launch_template(self, name: str) -> bool:
        """Delete the template; False when there was none."""
        if await self._call(self._launch_template_id, name) is None:
            return False
        await self._call(self._delete_template, name)
        return True

    # ------------------------------------------------------------------------------ action helpers

    async def _ensure_running(self, instance_id: str) -> tuple[bool, Instance]:
        """(already running, the running instance): starts a stopped instance, waits out transitions."""
        instance = await self._managed_instance(instance_id)
        self._refuse_gone(instance, "start")
        if instance.state in {"running", "pending"}:
            return True, await self._wait_for(instance_id, {"running"})
        if instance.state == "stopping":
            await self._wait_for(instance_id, {"stopped"})
        await self._call(self._start, instance_id)
        return False, await self._wait_for(instance_id, {"running"})

    @staticmethod
    def _refuse_different_launch(
        earlier: Instance, step_key: str, instance_type: str, lifecycle: PurchaseOption
    ) -> None:
        """A step key names one launch; reusing it for another shape is a bug, as EC2 says for tokens."""
        if (earlier.instance_type, earlier.lifecycle) != (instance_type, lifecycle):
            message = (
                f"step {step_key} launched a {earlier.lifecycle.value} {earlier.instance_type} "
                f"({earlier.instance_id}), not a {lifecycle.value} {instance_type}"
            )
            raise CloudActionError("IdempotentParameterMismatch", message, False)

    async def _managed_instance(self, instance_id: str) -> Instance:
        """Refuse to touch instances OptiInfra does not manage: a wrong id must not stop someone's box."""
        instance = await self._call(self._describe_one, instance_id)
        if tags.CUSTOMER not in instance.tags:
            raise CloudActionError(NOT_MANAGED, f"{instance_id} has no {tags.CUSTOMER} tag", False)
        return instance

    @staticmethod
    def _refuse_gone(instance: Instance, verb: str) -> None:
        if instance.state in GONE_STATES:
            message = f"cannot {verb} {instance.instance_id}: it is {instance.state}"
            raise CloudActionError(INCORRECT_STATE, message, False)

    async def _launched_by(self, step_key: str) -> list[Instance]:
        filters: list[FilterTypeDef] = [
            {"Name": f"tag:{tags.STEP_KEY}", "Values": [literal_filter_value(step_key)]}
        ]
        found = await self._call(self._describe_filtered, filters)
        return [instance for instance in found if instance.tags.get(tags.STEP_KEY) == step_key]

    async def _wait_for(
        self, instance_id: str, wanted: set[str], *, tolerate_missing: bool = False
    ) -> Instance:
        """Poll until the instance reaches a wanted state. Reaching `terminated` instead is final; a
        fresh launch may briefly be unknown to DescribeInstances (eventual consistency)."""
        deadline = time.monotonic() + self._wait_timeout
        while True:
            if self._on_wait_poll is not None:
                self._on_wait_poll()
            instance = await self.get_instance(instance_id)
            if instance is not None and instance.state in wanted:
                return instance
            if instance is not None and instance.state == "terminated":
                raise CloudActionError(UNEXPECTED_STATE, f"{instance_id} terminated while waiting", False)
            if instance is None and not tolerate_missing:
                raise CloudActionError(NOT_FOUND, f"{instance_id} disappeared while waiting", False)
            if time.monotonic() >= deadline:
                state = instance.state if instance else "unknown"
                message = f"{instance_id} is {state} after {self._wait_timeout:.0f}s, wanted {sorted(wanted)}"
                raise CloudActionError(WAIT_TIMEOUT, message, True)
            await asyncio.sleep(self._poll_interval)

    @staticmethod
    def _launch_result(instance: Instance, *, already: bool) -> LaunchResult:
        verb = "found" if already else "launched"
        return LaunchResult(
            action=StepAction.LAUNCH_REPLACEMENT,
            instance_ids=[instance.instance_id],
            already_in_target_state=already,
            summary=f"{verb} {instance.lifecycle.value} {instance.instance_type} {instance.instance_id}",
            instance_id=instance.instance_id,
            instance_type=instance.instance_type,
            lifecycle=instance.lifecycle,
        )

    @staticmethod
    def _result(action: StepAction, instance_id: str, already: bool, summary: str) -> ActionResult:
        return ActionResult(
            action=action, instance_ids=[instance_id], already_in_target_state=already, summary=summary
        )

    async def _call(self, func: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        return await call_aws(func, *args, **kwargs)

    # ------------------------------------------------------------------------- blocking boto3 calls

    def _describe_filtered(self, filters: list[FilterTypeDef]) -> list[Instance]:
        instances: list[Instance] = []
        for page in self.ec2.get_paginator("describe_instances").paginate(Filters=filters):
            for reservation in page["Reservations"]:
                instances.extend(instance_from_aws(raw) for raw in reservation.get("Instances", []))
        return sorted(
            instances, key=lambda i: (i.launch_time or datetime.min.replace(tzinfo=UTC), i.instance_id)
        )

    def _describe_one(self, instance_id: str) -> Instance:
        return instance_from_aws(self._describe_raw(instance_id))

    def _describe_raw(self, instance_id: str) -> InstanceTypeDef:
        reservations = self.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"]
        for reservation in reservations:
            for raw in reservation.get("Instances", []):
                return raw
        raise CloudActionError(NOT_FOUND, f"The instance ID '{instance_id}' does not exist", False)

    def _replacement_request(
        self, step_key: str, source_instance_id: str, instance_type: str, lifecycle: PurchaseOption
    ) -> RunInstancesRequestTypeDef:
        source = self._describe_raw(source_instance_id)
        replacement_tags = tags.copyable_tags(tags.from_aws_tags(source.get("Tags")))
        if tags.CUSTOMER not in replacement_tags:
            raise CloudActionError(NOT_MANAGED, f"{source_instance_id} has no {tags.CUSTOMER} tag", False)
        replacement_tags[tags.STEP_KEY] = step_key
        replacement_tags[tags.REPLACES] = source_instance_id
        request: RunInstancesRequestTypeDef = {
            "ImageId": source["ImageId"],
            "InstanceType": cast("InstanceTypeType", instance_type),
            "MinCount": 1,
            "MaxCount": 1,
            "ClientToken": client_token(step_key),
            "TagSpecifications": [
                {"ResourceType": "instance", "Tags": tags.to_aws_tags(replacement_tags)},
                {"ResourceType": "volume", "Tags": tags.to_aws_tags(replacement_tags)},
            ],
        }
        self._copy_placement(source, request)
        self._copy_boot_setup(source, request)
        if lifecycle is PurchaseOption.SPOT:
            request["InstanceMarketOptions"] = {
                "MarketType": "spot",
                "SpotOptions": {"SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"},
            }
        return request

    @staticmethod
    def _copy_placement(source: InstanceTypeDef, request: RunInstancesRequestTypeDef) -> None:
        if "SubnetId" in source:
            request["SubnetId"] = source["SubnetId"]
        group_ids = [group["GroupId"] for group in source.get("SecurityGroups", []) if "GroupId" in group]
        if group_ids:
            request["SecurityGroupIds"] = group_ids
        if "KeyName" in source:
            request["KeyName"] = source["KeyName"]
        profile_arn = source.get("IamInstanceProfile", {}).get("Arn")
        if profile_arn:
            request["IamInstanceProfile"] = {"Arn": profile_arn}

    def _copy_boot_setup(self, source: InstanceTypeDef, request: RunInstancesRequestTypeDef) -> None:
        """User data (how the vLLM replica starts) and the root volume (where the weights live)."""
        user_data = self._user_data(source["InstanceId"])
        if user_data:
            request["UserData"] = user_data
        root_volume = self._root_volume_mapping(source)
        if root_volume is not None:
            request["BlockDeviceMappings"] = [root_volume]

    def _user_data(self, instance_id: str) -> str | None:
        response = self.ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
        encoded = response.get("UserData", {}).get("Value")
        if not encoded:
            return None
        try:
            return base64.b64decode(encoded).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError) as error:
            raise CloudActionError(
                "UnsupportedUserData", f"{instance_id} has binary user data", False
            ) from error

    def _root_volume_mapping(self, source: InstanceTypeDef) -> BlockDeviceMappingTypeDef | None:
        root_device = source.get("RootDeviceName")
        mapping = next(
            (m for m in source.get("BlockDeviceMappings", []) if m.get("DeviceName") == root_device), None
        )
        volume_id = mapping.get("Ebs", {}).get("VolumeId") if mapping else None
        if root_device is None or volume_id is None:
            return None
        volume = self.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
        ebs: EbsBlockDeviceTypeDef = {
            "VolumeSize": volume["Size"],
            "VolumeType": volume["VolumeType"],
            "DeleteOnTermination": True,
        }
        if volume["VolumeType"] in {"gp3", "io1", "io2"} and "Iops" in volume:
            ebs["Iops"] = volume["Iops"]
        if volume["VolumeType"] == "gp3" and "Throughput" in volume:
            ebs["Throughput"] = volume["Throughput"]
        return {"DeviceName": root_device, "Ebs": ebs}

    def _run_instance(self, request: RunInstancesRequestTypeDef) -> str:
        return self.ec2.run_instances(**request)["Instances"][0]["InstanceId"]

    def _stop(self, instance_id: str) -> None:
        self.ec2.stop_instances(InstanceIds=[instance_id])

    def _start(self, instance_id: str) -> None:
        self.ec2.start_instances(InstanceIds=[instance_id])

    def _launch_template_id(self, name: str) -> str | None:
        try:
            found = self.ec2.describe_launch_templates(LaunchTemplateNames=[name])["LaunchTemplates"]
        except ClientError as error:
            if "NotFound" in error.response.get("Error", {}).get("Code", ""):
                return None
            raise
        return found[0]["LaunchTemplateId"] if found else None

    def _template_data(self, source_instance_id: str, instance_type: str) -> dict[str, object]:
        """What RunInstances would be asked for a replica like the source, as launch template data."""
        source = self._describe_raw(source_instance_id)
        request = cast("RunInstancesRequestTypeDef", {"ImageId": source["ImageId"]})
        self._copy_placement(source, request)
        self._copy_boot_setup(source, request)
        data: dict[str, object] = {"ImageId": source["ImageId"], "InstanceType": instance_type}
        for key in ("SecurityGroupIds", "KeyName", "IamInstanceProfile", "BlockDeviceMappings"):
            if key in request:
                data[key] = request[key]
        if "UserData" in request:
            data["UserData"] = base64.b64encode(request["UserData"].encode()).decode()
        return data

    def _create_template(self, name: str, data: dict[str, object]) -> str:
        created = self.ec2.create_launch_template(
            LaunchTemplateName=name,
            LaunchTemplateData=data,  # type: ignore[arg-type]
            ClientToken=client_token(f"launch-template/{name}"),
        )
        return created["LaunchTemplate"]["LaunchTemplateId"]

    def _delete_template(self, name: str) -> None:
        self.ec2.delete_launch_template(LaunchTemplateName=name)

    def _terminate(self, instance_ids: list[str]) -> None:
        self.ec2.terminate_instances(InstanceIds=instance_ids)

    def _modify_type(self, instance_id: str, instance_type: str) -> None:
        self.ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": instance_type})
