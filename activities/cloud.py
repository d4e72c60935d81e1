"""Cloud activities: read a workload's fleet, and change it one idempotent step at a time.

Every step is keyed by workflow id + step id, so a retried or replayed activity finds its own earlier
work (by EC2 ClientToken or tag) instead of acting twice."""

from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import current_workflow_id
from agents.verification import expected_end_state, mismatches
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.cloud.ec2 import CloudActionError, Ec2Fleet
from optiinfra.domain.enums import PurchaseOption, StepAction, StepStatus
from optiinfra.domain.fleet import InstanceType, WorkloadSnapshot
from optiinfra.domain.recommendation import CompensationStep, ExecutionStep, StepResult
from optiinfra.metrics.utilization import AsyncMetricsStore
from workflows.contracts import (
    ActivityName,
    CompensationRequest,
    StepRequest,
    VerificationResult,
    VerifyRequest,
    WorkloadContext,
)

UTILIZATION_LOOKBACK = timedelta(days=14)
UTILIZATION_PERIOD_SECONDS = 3600


def step_key(workflow_id: str, step_id: str) -> str:
    return f"{workflow_id}/{step_id}"


class CloudActivities:
    def __init__(self, fleet: Ec2Fleet, catalog: PriceCatalog, utilization: AsyncMetricsStore) -> None:
        self._fleet = fleet
        self._catalog = catalog
        self._utilization = utilization

    @activity.defn(name=ActivityName.COLLECT_SNAPSHOT)
    async def collect_workload_snapshot(self, context: WorkloadContext) -> WorkloadSnapshot:
        workload = context.workload
        instances = await self._fleet.describe_workload_instances(workload.customer_id, workload.workload_id)
        collected_at = datetime.now(UTC)
        series = await self._utilization.read_utilization(
            [i.instance_id for i in instances],
            start=collected_at - UTILIZATION_LOOKBACK,
            end=collected_at,
            period_seconds=UTILIZATION_PERIOD_SECONDS,
        )
        return WorkloadSnapshot(
            customer=context.customer,
            workload=workload,
            instances=instances,
            instance_types=self._known_types({i.instance_type for i in instances}, workload.region),
            candidate_types=self._catalog.types_in(workload.region),
            series=series,
            collected_at=collected_at,
        )

    @activity.defn(name=ActivityName.EXECUTE_STEP)
    async def execute_step(self, request: StepRequest) -> StepResult:
        return await self._perform(request.step.step_id, request.step, StepStatus.SUCCEEDED)

    @activity.defn(name=ActivityName.COMPENSATE_STEP)
    async def compensate_step(self, request: CompensationRequest) -> StepResult:
        return await self._perform(
            f"compensate-{request.step_id}", request.compensation, StepStatus.COMPENSATED
        )

    @activity.defn(name=ActivityName.VERIFY)
    async def verify_execution(self, request: VerifyRequest) -> VerificationResult:
        workflow_id = current_workflow_id()
        problems: list[str] = []
        for expected in expected_end_state(request.recommendation.steps):
            if expected.launched_by is not None:
                observed = await self._fleet.find_launched(step_key(workflow_id, expected.launched_by))
            else:
                assert expected.instance_id is not None
                observed = await self._fleet.get_instance(expected.instance_id)
            problems += mismatches(expected, observed)
        return VerificationResult(passed=not problems, problems=problems)

    async def _perform(
        self, step_id: str, step: ExecutionStep | CompensationStep, success: StepStatus
    ) -> StepResult:
        workflow_id = current_workflow_id()
        try:
            detail, resource_ids = await self._dispatch(workflow_id, step)
        except CloudActionError as error:
            raise ApplicationError(
                f"{error.code}: {error.message}", type=error.code, non_retryable=not error.retryable
            ) from error
        return StepResult(
            step_id=step_id,
            action=step.action,
            target=step.target,
            status=success,
            detail=detail,
            resource_ids=resource_ids,
            finished_at=datetime.now(UTC),
        )

    async def _dispatch(
        self, workflow_id: str, step: ExecutionStep | CompensationStep
    ) -> tuple[str, list[str]]:
        target = step.target
        match step.action:
            case StepAction.LAUNCH_REPLACEMENT:
                assert isinstance(step, ExecutionStep)
                launched = await self._fleet.launch_replacement(
                    step_key(workflow_id, step.step_id),
                    target,
                    step.params["instance_type"],
                    PurchaseOption(step.params.get("lifecycle", PurchaseOption.ON_DEMAND.value)),
                )
                return launched.summary, [launched.instance_id]
            case StepAction.TERMINATE_LAUNCHED:
                key = step_key(workflow_id, step.params["launch_step_id"])
                terminated = await self._fleet.terminate_launched(key)
                return terminated.summary, terminated.instance_ids
            case StepAction.STOP_INSTANCE:
                return (await self._fleet.stop_instance(target)).summary, [target]
            case StepAction.START_INSTANCE:
                return (await self._fleet.start_instance(target)).summary, [target]
            case StepAction.MODIFY_INSTANCE_TYPE:
                result = await self._fleet.modify_instance_type(target, step.params["instance_type"])
                return result.summary, [target]
            case StepAction.TERMINATE_INSTANCE:
                return (await self._fleet.terminate_instance(target)).summary, [target]
        raise ApplicationError(f"unsupported step action {step.action}", non_retryable=True)

    def _known_types(self, names: set[str], region: str) -> dict[str, InstanceType]:
        known: dict[str, InstanceType] = {}
        for name in names:
            try:
                known[name] = self._catalog.get(name, region)
            except KeyError:
                activity.logger.warning("instance type %s is not in the price catalog", name)
        return known
