"""Cloud activities: read a workload's fleet, and change it one idempotent step at a time.

Every step is keyed by workflow id + step id, so a retried or replayed activity finds its own earlier
work (by EC2 ClientToken or tag) instead of acting twice."""

from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.context import current_workflow_id
from activities.readings import read_performance
from agents.budget import fleet_usage
from agents.verification import (
    expected_end_state,
    expected_reservations,
    expected_scaling_groups,
    mismatches,
    reservation_mismatches,
    scaling_group_mismatches,
)
from kvtier.trace import TraceFormatError
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.cloud import tags
from optiinfra.cloud.autoscaling import ScalingGroups
from optiinfra.cloud.ec2 import CloudActionError, Ec2Fleet
from optiinfra.cloud.reservations import PurchaseResult, ReservedCapacity
from optiinfra.connections.accounts import AwsAccount, CustomerAccounts
from optiinfra.connections.clusters import CustomerClusters
from optiinfra.connections.reader import ConnectionUnusableError
from optiinfra.domain.enums import AgentKind, PurchaseOption, StepAction, StepStatus
from optiinfra.domain.fleet import (
    ActiveReservation,
    InstanceType,
    ScalingPolicy,
    SpotGroupSpec,
    Workload,
    WorkloadSnapshot,
)
from optiinfra.domain.kube import DeploymentRef, DeploymentState
from optiinfra.domain.preflight import DeploymentReading, InstanceReading, ObjectReading
from optiinfra.domain.recommendation import CompensationStep, ExecutionStep, StepResult
from optiinfra.domain.resource import PrefixCacheProfile
from optiinfra.kube.autoscalers import Autoscalers
from optiinfra.kube.deployments import Deployments, KubeActionError
from optiinfra.kvcache.traces import PrefixTraces
from optiinfra.metrics.usage import usage_hours
from optiinfra.metrics.utilization import AsyncMetricsStore
from optiinfra.store.capacity_profiles import StoredCapacityProfiles
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
USAGE_LOOKBACK = timedelta(days=90)
"""Reservations are sized on up to 90 days of hourly usage."""


def step_key(workflow_id: str, step_id: str) -> str:
    return f"{workflow_id}/{step_id}"


class CloudActivities:
    def __init__(
        self,
        fleet: Ec2Fleet,
        catalog: PriceCatalog,
        utilization: AsyncMetricsStore,
        scaling_groups: ScalingGroups,
        deployments: Deployments | None = None,
        prefix_traces: PrefixTraces | None = None,
        capacity_profiles: StoredCapacityProfiles | None = None,
        accounts: CustomerAccounts | None = None,
        clusters: CustomerClusters | None = None,
    ) -> None:
        """`fleet` and `scaling_groups` are the worker's default account; `accounts` resolves a customer
        with its own connection to its account (without it every customer is acted on in the default), and
        `clusters` to its cluster (`deployments` being the worker's own)."""
        self._capacity_profiles = capacity_profiles
        self._clusters = clusters or CustomerClusters(deployments)
        self._prefix_traces = prefix_traces
        self._catalog = catalog
        self._utilization = utilization
        self._accounts = accounts or CustomerAccounts(
            AwsAccount(fleet=fleet, scaling_groups=scaling_groups, reservations=ReservedCapacity(fleet.ec2))
        )

    @activity.defn(name=ActivityName.COLLECT_SNAPSHOT)
    async def collect_workload_snapshot(self, context: WorkloadContext) -> WorkloadSnapshot:
        workload = context.workload
        account = await self._account(workload.customer_id, workload.region)
        # One read of the customer's fleet serves both: its budget is held to the whole, the agents read
        # the workload's part (the same instances, by the same tag, as describe_workload_instances).
        customer_instances = await account.fleet.describe_customer_instances(workload.customer_id)
        instances = [i for i in customer_instances if i.tags.get(tags.WORKLOAD) == workload.workload_id]
        collected_at = datetime.now(UTC)
        series = await self._utilization.read_utilization(
            [i.instance_id for i in instances],
            start=collected_at - UTILIZATION_LOOKBACK,
            end=collected_at,
            period_seconds=UTILIZATION_PERIOD_SECONDS,
        )
        costs = await self._utilization.read_cost_samples(
            [i.instance_id for i in instances], start=collected_at - USAGE_LOOKBACK, end=collected_at
        )
        reservations = await account.reservations.active_for_workload(
            workload.customer_id, workload.workload_id
        )
        deployment = await self._read_deployment(workload)
        readings = await read_performance(
            self._utilization,
            workload.customer_id,
            workload.workload_id,
            collected_at,
            {i.instance_id: i.instance_type for i in instances}
            | (
                {pod.name: deployment.node_instance_type for pod in deployment.pods}
                if deployment is not None and deployment.node_instance_type
                else {}
            ),
        )
        customer_types = self._known_types({i.instance_type for i in customer_instances}, workload.region)
        return WorkloadSnapshot(
            customer_fleet=fleet_usage(customer_instances, customer_types),
            customer=context.customer,
            workload=workload,
            instances=instances,
            instance_types=self._known_types({i.instance_type for i in instances}, workload.region),
            candidate_types=self._catalog.types_in(workload.region),
            series=series,
            collected_at=collected_at,
            scaling_group=await account.scaling_groups.describe_workload_group(
                workload.customer_id, workload.workload_id
            ),
            usage=usage_hours(costs),
            reservations=[
                ActiveReservation(
                    reservation_id=r.reservation_id,
                    instance_type=r.instance_type,
                    instance_count=r.instance_count,
                    end=r.end,
                )
                for r in reservations
            ],
            deployment=deployment,
            windows=readings.windows,
            request_rate=readings.request_rate,
            replica_loads=readings.replica_loads,
            prefix_cache=await self._prefix_profile(
                context, deployment.replicas if deployment is not None else len(instances)
            ),
            capacity_profiles=(
                await self._capacity_profiles.for_workload(workload.customer_id, workload.workload_id)
                if self._capacity_profiles is not None
                else []
            ),
        )

    @activity.defn(name=ActivityName.READ_OBJECTS)
    async def read_workload_objects(self, context: WorkloadContext) -> ObjectReading:
        """The workload's instances and Deployment as they are now: what a recommendation's preflight
        compares with what its steps expect."""
        workload = context.workload
        account = await self._account(workload.customer_id, workload.region)
        instances = await account.fleet.describe_workload_instances(
            workload.customer_id, workload.workload_id
        )
        deployment = await self._read_deployment(workload)
        return ObjectReading(
            instances={
                i.instance_id: InstanceReading(instance_type=i.instance_type, state=i.state)
                for i in instances
            },
            deployment=(
                DeploymentReading(ref=str(deployment.ref), replicas=deployment.replicas, args=deployment.args)
                if deployment is not None
                else None
            ),
        )

    async def _prefix_profile(self, context: WorkloadContext, replicas: int) -> PrefixCacheProfile | None:
        """The prefix trace replayed through kvtier, pooled and split over the `replicas` by each routing:
        seconds of work, done only for the Resource agent."""
        if context.agent is not AgentKind.RESOURCE or self._prefix_traces is None:
            return None
        try:
            return await self._prefix_traces.profile(context.workload, replicas)
        except TraceFormatError as error:
            raise ApplicationError(
                f"the prefix trace of {context.workload.workload_id} is malformed: {error}",
                type="TraceFormatError",
                non_retryable=True,
            ) from error

    async def _read_deployment(self, workload: Workload) -> DeploymentState | None:
        if workload.kube_namespace is None or workload.kube_deployment is None:
            return None
        try:
            cluster = await self._clusters.for_customer(workload.customer_id)
        except ConnectionUnusableError as error:
            raise ApplicationError(str(error), type="ConnectionUnusable") from error
        if cluster is None:
            raise ApplicationError(
                f"{workload.workload_id} runs as Deployment {workload.kube_namespace}/"
                f"{workload.kube_deployment}, but neither its customer nor this worker has a Kubernetes API "
                "configured",
                non_retryable=True,
            )
        ref = DeploymentRef(namespace=workload.kube_namespace, name=workload.kube_deployment)
        try:
            state = await cluster.read(ref)
            autoscaler = await Autoscalers(cluster).read(ref)
        except KubeActionError as error:
            raise ApplicationError(
                f"reading Deployment {ref}: {error.code}: {error.message}",
                type=error.code,
                non_retryable=not error.retryable,
            ) from error
        if isinstance(autoscaler, str):
            return state.model_copy(update={"foreign_autoscaler": autoscaler})
        return state.model_copy(update={"autoscaler": autoscaler})

    @activity.defn(name=ActivityName.EXECUTE_STEP)
    async def execute_step(self, request: StepRequest) -> StepResult:
        account = await self._account(request.customer_id, request.region)
        return await self._perform(request.step.step_id, request.step, StepStatus.SUCCEEDED, account)

    @activity.defn(name=ActivityName.COMPENSATE_STEP)
    async def compensate_step(self, request: CompensationRequest) -> StepResult:
        account = await self._account(request.customer_id, request.region)
        return await self._perform(
            f"compensate-{request.step_id}", request.compensation, StepStatus.COMPENSATED, account
        )

    @activity.defn(name=ActivityName.VERIFY)
    async def verify_execution(self, request: VerifyRequest) -> VerificationResult:
        workflow_id = current_workflow_id()
        account = await self._account(
            request.customer_id or request.recommendation.customer_id, request.region
        )
        problems: list[str] = []
        for expected in expected_end_state(request.recommendation.steps):
            if expected.launched_by is not None:
                observed = await account.fleet.find_launched(step_key(workflow_id, expected.launched_by))
            else:
                assert expected.instance_id is not None
                observed = await account.fleet.get_instance(expected.instance_id)
            problems += mismatches(expected, observed)
        for group in expected_scaling_groups(request.recommendation.steps):
            observed_group = await account.scaling_groups.describe_group(group.group_name)
            problems += scaling_group_mismatches(group, observed_group)
        for reservation in expected_reservations(request.recommendation.steps):
            found = await account.reservations.find_purchased(step_key(workflow_id, reservation.purchased_by))
            problems += reservation_mismatches(
                reservation,
                found.instance_type if found else None,
                found.instance_count if found else 0,
                found.state if found else "missing",
            )
        activity.logger.info("verification %s", "passed" if not problems else f"failed: {problems}")
        return VerificationResult(passed=not problems, problems=problems)

    async def _perform(
        self, step_id: str, step: ExecutionStep | CompensationStep, success: StepStatus, account: AwsAccount
    ) -> StepResult:
        workflow_id = current_workflow_id()
        try:
            detail, resource_ids = await self._dispatch(workflow_id, step, account)
        except CloudActionError as error:
            raise ApplicationError(
                f"{error.code}: {error.message}", type=error.code, non_retryable=not error.retryable
            ) from error
        activity.logger.info("step %s: %s %s %s", step_id, step.action.value, step.target, success.value)
        return StepResult(
            step_id=step_id,
            action=step.action,
            target=step.target,
            status=success,
            detail=detail,
            resource_ids=resource_ids,
            finished_at=datetime.now(UTC),
        )

    async def _account(self, customer_id: str | None, region: str | None) -> AwsAccount:
        try:
            return await self._accounts.for_customer(customer_id, region)
        except ConnectionUnusableError as error:
            raise ApplicationError(str(error), type="AccountUnreachable") from error

    async def _dispatch(
        self, workflow_id: str, step: ExecutionStep | CompensationStep, account: AwsAccount
    ) -> tuple[str, list[str]]:
        target = step.target
        fleet, groups = account.fleet, account.scaling_groups
        match step.action:
            case StepAction.LAUNCH_REPLACEMENT:
                assert isinstance(step, ExecutionStep)
                launched = await fleet.launch_replacement(
                    step_key(workflow_id, step.step_id),
                    target,
                    step.params["instance_type"],
                    PurchaseOption(step.params.get("lifecycle", PurchaseOption.ON_DEMAND.value)),
                )
                return launched.summary, [launched.instance_id]
            case StepAction.TERMINATE_LAUNCHED:
                key = step_key(workflow_id, step.params["launch_step_id"])
                terminated = await fleet.terminate_launched(key)
                return terminated.summary, terminated.instance_ids
            case StepAction.STOP_INSTANCE:
                return (await fleet.stop_instance(target)).summary, [target]
            case StepAction.START_INSTANCE:
                return (await fleet.start_instance(target)).summary, [target]
            case StepAction.MODIFY_INSTANCE_TYPE:
                result = await fleet.modify_instance_type(target, step.params["instance_type"])
                return result.summary, [target]
            case StepAction.TERMINATE_INSTANCE:
                return (await fleet.terminate_instance(target)).summary, [target]
            case StepAction.UPDATE_SCALING_GROUP:
                desired = step.params.get("desired_capacity")
                updated = await groups.update_group(
                    target,
                    min_size=int(step.params["min_size"]),
                    max_size=int(step.params["max_size"]),
                    default_cooldown=int(step.params["default_cooldown"]),
                    desired_capacity=int(desired) if desired is not None else None,
                )
                return updated.summary, [target]
            case StepAction.PUT_SCALING_POLICY:
                policy = ScalingPolicy.model_validate_json(step.params["policy"])
                put = await groups.put_target_tracking_policy(target, policy)
                return put.summary, [target]
            case StepAction.DELETE_SCALING_POLICY:
                deleted = await groups.delete_policy(target, step.params["policy_name"])
                return deleted.summary, [target]
            case StepAction.CREATE_SPOT_GROUP:
                spec = SpotGroupSpec.model_validate_json(step.params["group"])
                template_id, instance_tags = await fleet.ensure_launch_template(
                    spec.name, spec.source_instance_id, spec.instance_types[0]
                )
                group_tags = {
                    k: v for k, v in instance_tags.items() if k not in (tags.STEP_KEY, tags.REPLACES)
                }
                created = await groups.create_spot_group(spec, template_id, group_tags)
                group = await groups.describe_group(spec.name)
                return created.summary, group.instance_ids if group is not None else []
            case StepAction.DELETE_SPOT_GROUP:
                deleted = await groups.delete_spot_group(target)
                await fleet.delete_launch_template(target)
                return deleted.summary, [target]
            case StepAction.PURCHASE_RESERVED_INSTANCES:
                assert isinstance(step, ExecutionStep)
                purchased = await self._purchase_reservation(workflow_id, step, account.reservations)
                return purchased.summary, [purchased.reservation.reservation_id]
        raise ApplicationError(f"unsupported step action {step.action}", non_retryable=True)

    async def _purchase_reservation(
        self, workflow_id: str, step: ExecutionStep, reservations: ReservedCapacity
    ) -> PurchaseResult:
        params = step.params
        quote = await reservations.quote(
            params["instance_type"],
            term_years=int(params["term_years"]),
            offering_class=params["offering_class"],
            offering_type=params["offering_type"],
        )
        return await reservations.purchase(
            step_key(workflow_id, step.step_id),
            quote,
            count=int(params["count"]),
            max_upfront_usd=float(params["max_upfront_usd"]),
            owner_tags={tags.CUSTOMER: params["customer_id"], tags.WORKLOAD: params["workload_id"]},
        )

    def _known_types(self, names: set[str], region: str) -> dict[str, InstanceType]:
        known: dict[str, InstanceType] = {}
        for name in names:
            try:
                known[name] = self._catalog.get(name, region)
            except KeyError:
                activity.logger.warning("instance type %s is not in the price catalog", name)
        return known
