"""A recommendation's preview: its steps against the workload's objects read now, by a worker."""

import uuid
from datetime import timedelta

from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from optiinfra.control.optimizations import timing_from
from optiinfra.domain.preflight import ObjectReading
from optiinfra.domain.preview import RecommendationPreview, preview
from optiinfra.domain.recommendation import Recommendation
from optiinfra.settings import Settings
from workflows.contracts import PreviewRequest
from workflows.preview import RecommendationPreviewWorkflow, preview_workflow_id

PREVIEW_WAIT = timedelta(seconds=30)
"""How long a person waits for the reading; a worker must be running."""


class PreviewUnavailableError(RuntimeError):
    """The workload could not be read now (no worker, or the cloud or cluster did not answer)."""


async def preview_recommendation(
    *, client: Client, settings: Settings, recommendation: Recommendation
) -> RecommendationPreview:
    request = PreviewRequest(
        customer_id=recommendation.customer_id,
        workload_id=recommendation.workload_id,
        timing=timing_from(settings),
    )
    try:
        reading: ObjectReading = await client.execute_workflow(
            RecommendationPreviewWorkflow.run,
            request,
            id=preview_workflow_id(recommendation.recommendation_id, uuid.uuid4().hex[:12]),
            task_queue=settings.temporal_task_queue,
            execution_timeout=PREVIEW_WAIT,
            static_summary=f"preview of {recommendation.recommendation_id}",
        )
    except WorkflowFailureError as error:
        cause = error.cause
        why = "no worker read it in time" if "timed out" in str(cause).lower() else str(cause or error)
        workload = f"{recommendation.customer_id}/{recommendation.workload_id}"
        raise PreviewUnavailableError(f"the workload {workload} could not be read now: {why}") from error
    except RPCError as error:
        raise PreviewUnavailableError(f"the workflow engine refused the preview: {error}") from error
    return preview(recommendation.recommendation_id, recommendation.steps, reading)
