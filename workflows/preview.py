"""RecommendationPreviewWorkflow: reads a workload's objects as they are now, for a person deciding on one
of its recommendations (`GET /v1/recommendations/{id}/preview`). Short-lived and read-only: the reading
runs in a worker, where the cloud and cluster credentials are, never in the API process."""

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from optiinfra.domain.preflight import ObjectReading
    from workflows.activity_calls import call_activity
    from workflows.contracts import ActivityName, PreviewRequest, WorkloadContext, WorkloadRef


def preview_workflow_id(recommendation_id: str, nonce: str) -> str:
    return f"preview/{recommendation_id}/{nonce}"


@workflow.defn
class RecommendationPreviewWorkflow:
    @workflow.run
    async def run(self, request: PreviewRequest) -> ObjectReading:
        context: WorkloadContext = await call_activity(
            request.timing,
            ActivityName.LOAD_WORKLOAD,
            WorkloadRef(customer_id=request.customer_id, workload_id=request.workload_id),
            WorkloadContext,
        )
        reading: ObjectReading = await call_activity(
            request.timing,
            ActivityName.READ_OBJECTS,
            context,
            ObjectReading,
            summary=f"read {request.customer_id}/{request.workload_id} for a preview",
        )
        return reading
