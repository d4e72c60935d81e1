"""The all-in-one worker: every workflow and activity of the project on one task queue."""

import asyncio
from collections.abc import Sequence

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.worker import Worker

from activities.analysis import analyze_workload
from activities.cloud import CloudActivities
from activities.store import StoreActivities
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.cloud.ec2 import Ec2Fleet
from optiinfra.engine.client import connect_temporal
from optiinfra.settings import Settings
from optiinfra.store.database import create_engine_for, session_factory
from workflows.agent_optimization import AgentOptimizationWorkflow

WORKFLOWS: Sequence[type] = (AgentOptimizationWorkflow,)


def build_worker(
    client: Client,
    *,
    task_queue: str,
    sessions: async_sessionmaker[AsyncSession],
    fleet: Ec2Fleet,
    catalog: PriceCatalog | None = None,
) -> Worker:
    store = StoreActivities(sessions)
    cloud = CloudActivities(fleet, catalog or PriceCatalog.load_default())
    return Worker(
        client,
        task_queue=task_queue,
        workflows=list(WORKFLOWS),
        activities=[
            store.load_workload,
            store.persist_recommendation,
            store.change_recommendation_status,
            store.record_step_result,
            store.record_outcome,
            cloud.collect_workload_snapshot,
            cloud.execute_step,
            cloud.compensate_step,
            cloud.verify_execution,
            analyze_workload,
        ],
    )


async def run_worker(settings: Settings) -> None:
    """Run until cancelled, against the settings' Temporal, store and cloud."""
    client = await connect_temporal(settings)
    engine = create_engine_for(settings.effective_database_url)
    try:
        worker = build_worker(
            client,
            task_queue=settings.temporal_task_queue,
            sessions=session_factory(engine),
            fleet=Ec2Fleet.from_settings(settings),
        )
        await worker.run()
    finally:
        await engine.dispose()


def main() -> None:
    asyncio.run(run_worker(Settings()))


if __name__ == "__main__":
    main()
