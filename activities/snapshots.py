"""Workload snapshots by reference: collected and stored in the database in one activity, read back by the
analysis activity, so the optimization's history carries a snapshot id instead of the snapshot and its
metric series (hundreds of kilobytes for a two-week lookback)."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.analysis import AnalysisActivities
from activities.cloud import CloudActivities
from optiinfra.domain.fleet import WorkloadSnapshot
from optiinfra.domain.recommendation import AnalysisResult
from optiinfra.store.payloads import StoredPayloadMissing, load_payload, save_payload
from workflows.contracts import (
    ActivityName,
    AnalyzeInput,
    AnalyzeStoredInput,
    StoredSnapshot,
    WorkloadContext,
)

SNAPSHOT_KIND = "workload_snapshot"


class StoredSnapshotActivities:
    def __init__(
        self, cloud: CloudActivities, analysis: AnalysisActivities, sessions: async_sessionmaker[AsyncSession]
    ) -> None:
        self._cloud = cloud
        self._analysis = analysis
        self._sessions = sessions

    @activity.defn(name=ActivityName.COLLECT_STORED_SNAPSHOT)
    async def collect_stored_snapshot(self, context: WorkloadContext) -> StoredSnapshot:
        snapshot = await self._cloud.collect_workload_snapshot(context)
        async with self._sessions.begin() as session:
            snapshot_id, size = await save_payload(
                session=session,
                kind=SNAPSHOT_KIND,
                customer_id=context.workload.customer_id,
                payload=snapshot,
            )
        return StoredSnapshot(snapshot_id=snapshot_id, size_bytes=size)

    @activity.defn(name=ActivityName.ANALYZE_STORED)
    async def analyze_stored_snapshot(self, request: AnalyzeStoredInput) -> AnalysisResult:
        try:
            async with self._sessions() as session:
                snapshot = await load_payload(
                    session=session, payload_id=request.snapshot_id, model=WorkloadSnapshot
                )
        except StoredPayloadMissing as error:
            raise ApplicationError(str(error), type="StoredPayloadMissing", non_retryable=True) from error
        if request.application is not None:
            snapshot = snapshot.model_copy(update={"application": request.application})
        return await self._analysis.analyze_workload(
            AnalyzeInput(agent=request.agent, snapshot=snapshot, requests=request.requests)
        )
