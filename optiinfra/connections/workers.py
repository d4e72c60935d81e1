"""What a worker needs to act with each customer's own connections: its account, its cluster and its
metrics sources, falling back to the worker's own (settings) for what a customer has not connected."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.cloud.autoscaling import ScalingGroups
from optiinfra.cloud.ec2 import Ec2Fleet
from optiinfra.cloud.reservations import ReservedCapacity
from optiinfra.connections.accounts import AwsAccount, CustomerAccounts
from optiinfra.connections.clusters import CustomerClusters
from optiinfra.connections.collectors import CustomerCollectors
from optiinfra.connections.reader import ConnectionReader
from optiinfra.kube.deployments import Deployments
from optiinfra.kube.in_flight import PodMetricsUrl
from optiinfra.metrics.collector import MetricsCollector
from optiinfra.settings import Settings


@dataclass(frozen=True)
class CustomerConnections:
    accounts: CustomerAccounts
    clusters: CustomerClusters
    collectors: CustomerCollectors

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        sessions: async_sessionmaker[AsyncSession],
        *,
        fleet: Ec2Fleet,
        scaling_groups: ScalingGroups,
        deployments: Deployments | None,
        collector: MetricsCollector,
        pod_metrics_url: PodMetricsUrl,
    ) -> "CustomerConnections":
        reader = ConnectionReader.from_settings(settings, sessions)
        default = AwsAccount(
            fleet=fleet, scaling_groups=scaling_groups, reservations=ReservedCapacity(fleet.ec2)
        )
        accounts = CustomerAccounts(default, settings=settings, connections=reader)
        clusters = CustomerClusters(deployments, settings=settings, connections=reader)
        collectors = CustomerCollectors(
            collector,
            settings=settings,
            connections=reader,
            accounts=accounts,
            clusters=clusters,
            pod_metrics_url=pod_metrics_url,
        )
        return cls(accounts=accounts, clusters=clusters, collectors=collectors)

    async def aclose(self) -> None:
        await self.clusters.aclose()
        await self.collectors.aclose()
