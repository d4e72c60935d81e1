"""Each customer is acted on in its own AWS account, reached by assuming its role with its external id
(moto's STS over HTTP; moto keeps each account's resources apart): one customer's optimization never sees
or touches the other's fleet, nor the platform's default account."""

import dataclasses
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.testing import ActivityEnvironment

from activities.cloud import CloudActivities
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.cloud.ec2 import SIMULATOR_CREDENTIALS, aws_session, client_config
from optiinfra.cloud.reservations import ReservedCapacity
from optiinfra.connections.accounts import AwsAccount, CustomerAccounts
from optiinfra.connections.model import ConnectionSecrets, ConnectionSpec
from optiinfra.connections.reader import ConnectionReader
from optiinfra.connections.store import cipher_from_settings, put_connection
from optiinfra.domain.enums import StepAction, StepStatus
from optiinfra.domain.fleet import Workload
from optiinfra.domain.recommendation import ExecutionStep
from optiinfra.metrics.open import open_metrics_store
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.settings import Settings
from optiinfra.store import repository
from optiinfra.store.database import create_engine_for, session_factory
from tests.optiinfra.store import factories
from tests.support.cloud import SeededCloud
from workflows.contracts import StepRequest, WorkloadContext

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

ACCOUNTS = {"acme": "111111111111", "globex": "222222222222"}


def _role(customer: str) -> str:
    return f"arn:aws:iam::{ACCOUNTS[customer]}:role/optiinfra"


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine_for(database_url)
    yield session_factory(engine)
    await engine.dispose()


def _settings(cloud: SeededCloud, tmp_path: Path) -> Settings:
    return Settings(
        aws_region=cloud.region,
        aws_endpoint_url=cloud.endpoint_url,
        connection_key=SecretStr(Fernet.generate_key().decode()),
        state_dir=tmp_path,
    )


def _launch_in(cloud: SeededCloud, customer: str) -> str:
    """One instance of the customer's workload `chat`, launched in its own account (its role assumed)."""
    sts = aws_session(cloud.region, SIMULATOR_CREDENTIALS).client(
        "sts", endpoint_url=cloud.endpoint_url, config=client_config()
    )
    issued = sts.assume_role(RoleArn=_role(customer), RoleSessionName="seed", ExternalId=f"{customer}-ext")[
        "Credentials"
    ]
    ec2 = aws_session(cloud.region, None).client(
        "ec2",
        endpoint_url=cloud.endpoint_url,
        config=client_config(),
        aws_access_key_id=issued["AccessKeyId"],
        aws_secret_access_key=issued["SecretAccessKey"],
        aws_session_token=issued["SessionToken"],
    )
    image = ec2.register_image(Name=f"{customer}-vllm", RootDeviceName="/dev/xvda", VirtualizationType="hvm")
    tags = [{"Key": "optiinfra:customer", "Value": customer}, {"Key": "optiinfra:workload", "Value": "chat"}]
    launched = ec2.run_instances(
        ImageId=image["ImageId"],
        InstanceType="g5.xlarge",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[{"ResourceType": "instance", "Tags": tags}],
    )
    return launched["Instances"][0]["InstanceId"]


def _workload(customer: str, region: str) -> Workload:
    return factories.workload(customer, "chat").model_copy(update={"region": region})


async def _register(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, customer: str, region: str
) -> None:
    async with sessions.begin() as session:
        await repository.upsert_customer(session=session, customer=factories.customer(customer))
        await repository.upsert_workload(session=session, workload=_workload(customer, region))
        await put_connection(
            session=session,
            cipher=cipher_from_settings(settings),
            customer_id=customer,
            spec=ConnectionSpec(aws_role_arn=_role(customer)),
            secrets=ConnectionSecrets(aws_external_id=SecretStr(f"{customer}-ext")),
        )


async def test_each_customer_is_acted_on_in_its_own_account_only(
    seeded_cloud_no_metrics: SeededCloud, sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    cloud = seeded_cloud_no_metrics
    settings = _settings(cloud, tmp_path)
    launched = {customer: _launch_in(cloud, customer) for customer in ACCOUNTS}
    for customer in ACCOUNTS:
        await _register(sessions, settings, customer, cloud.region)
    default = AwsAccount(
        fleet=cloud.fleet, scaling_groups=cloud.groups, reservations=ReservedCapacity(cloud.fleet.ec2)
    )
    accounts = CustomerAccounts(
        default, settings=settings, connections=ConnectionReader.from_settings(settings, sessions)
    )

    # Each customer's account holds its own instance only; the default account holds neither.
    for customer, instance_id in launched.items():
        account = await accounts.for_customer(customer, cloud.region)
        assert account is not default
        seen = await account.fleet.describe_workload_instances(customer, "chat")
        assert [i.instance_id for i in seen] == [instance_id]
        other = next(c for c in ACCOUNTS if c != customer)
        assert await account.fleet.get_instance(launched[other]) is None
        assert await default.fleet.get_instance(instance_id) is None
    assert await accounts.for_customer("demo", cloud.region) is default  # no connection: the default

    # A step of acme's stops acme's instance, in acme's account; globex's instance runs on. The same step
    # sent as globex's finds nothing to act on in globex's account.
    store = open_metrics_store(settings)
    try:
        activities = CloudActivities(
            cloud.fleet,
            PriceCatalog.load_default(),
            AsyncMetricsStore(store),
            cloud.groups,
            accounts=accounts,
        )
        env = ActivityEnvironment()
        env.info = dataclasses.replace(env.info, workflow_id="opt/acme/chat/cost/1")
        stop = ExecutionStep(
            step_id="stop-1", action=StepAction.STOP_INSTANCE, target=launched["acme"], description="Stop it"
        )
        done = await env.run(
            activities.execute_step, StepRequest(step=stop, customer_id="acme", region=cloud.region)
        )
        assert done.status is StepStatus.SUCCEEDED
        acme = await accounts.for_customer("acme", cloud.region)
        globex = await accounts.for_customer("globex", cloud.region)
        stopped = await acme.fleet.get_instance(launched["acme"])
        assert stopped is not None and stopped.state in ("stopping", "stopped")
        untouched = await globex.fleet.get_instance(launched["globex"])
        assert untouched is not None and untouched.state == "running"
        with pytest.raises(Exception, match=launched["acme"]):
            await env.run(
                activities.execute_step, StepRequest(step=stop, customer_id="globex", region=cloud.region)
            )

        # The context an optimization carries resolves the same way (the snapshot reads its own account).
        context = WorkloadContext(
            customer=factories.customer("globex"), workload=factories.workload("globex", "chat")
        )
        reading = await env.run(activities.read_workload_objects, context)
        assert set(reading.instances) == {launched["globex"]}
        # The snapshot counts the customer's whole fleet in its own account: what its GPU budget is held to.
        snapshot = await env.run(activities.collect_workload_snapshot, context)
        assert [i.instance_id for i in snapshot.instances] == [launched["globex"]]
        g5 = PriceCatalog.load_default().get("g5.xlarge", cloud.region)
        assert snapshot.customer_fleet is not None
        assert (snapshot.customer_fleet.instances, snapshot.customer_fleet.gpus) == (1, 1)
        assert snapshot.customer_fleet.monthly_usd == pytest.approx(g5.on_demand_hourly_usd * 730)
    finally:
        store.close()
