"""Kubernetes activities: change a workload's Deployment one idempotent step at a time, and verify it.

Scaling uses the Deployment's scale subresource; vLLM arguments change with a rolling update the step
waits out; draining takes pods out of the Service (label) and marks them to be removed first (deletion
cost), then waits until their in-flight requests reach zero. Every step is idempotent: a retried step
finds the Deployment already as it wants it and changes nothing."""

import asyncio
import json
import time
from datetime import UTC, datetime, timedelta

from temporalio import activity
from temporalio.exceptions import ApplicationError

from optiinfra.connections.clusters import CustomerClusters
from optiinfra.connections.reader import ConnectionUnusableError
from optiinfra.domain.enums import StepAction, StepStatus
from optiinfra.domain.kube import DeploymentRef, DeploymentState, PodsMetricAutoscaler
from optiinfra.domain.recommendation import CompensationStep, ExecutionStep, StepResult
from optiinfra.kube.autoscalers import Autoscalers
from optiinfra.kube.deployments import Deployments, KubeActionError
from optiinfra.kube.in_flight import InFlightProbe
from workflows.contracts import (
    ActivityName,
    CompensationRequest,
    StepRequest,
    VerificationResult,
    VerifyRequest,
)

TIMEOUT_MARGIN = timedelta(seconds=15)
"""Room left inside the activity's own timeout to report a clear reason instead of being cut off."""


def deployment_ref(target: str) -> DeploymentRef:
    namespace, _, name = target.partition("/")
    return DeploymentRef(namespace=namespace, name=name)


def _pods(step: ExecutionStep | CompensationStep) -> list[str]:
    return [pod for pod in step.params.get("pods", "").split(",") if pod]


def _bounded(seconds: float) -> float:
    """A step's own time limit, cut to what the activity's timeout leaves."""
    limit = activity.info().start_to_close_timeout
    if limit is None:
        return seconds
    return max(1.0, min(seconds, (limit - TIMEOUT_MARGIN).total_seconds()))


class KubeActivities:
    def __init__(
        self,
        deployments: Deployments | None,
        probe: InFlightProbe,
        *,
        poll_seconds: float = 2.0,
        clusters: CustomerClusters | None = None,
    ) -> None:
        """`deployments` is the worker's own cluster; `clusters` resolves a customer with its own (without
        it every customer's Deployments are acted on in the worker's cluster)."""
        self._clusters = clusters or CustomerClusters(deployments)
        self._probe = probe
        self._poll_seconds = poll_seconds

    @activity.defn(name=ActivityName.EXECUTE_KUBE_STEP)
    async def execute_kube_step(self, request: StepRequest) -> StepResult:
        cluster = await self._cluster(request.customer_id)
        return await self._perform(request.step.step_id, request.step, StepStatus.SUCCEEDED, cluster)

    @activity.defn(name=ActivityName.COMPENSATE_KUBE_STEP)
    async def compensate_kube_step(self, request: CompensationRequest) -> StepResult:
        cluster = await self._cluster(request.customer_id)
        return await self._perform(
            f"compensate-{request.step_id}", request.compensation, StepStatus.COMPENSATED, cluster
        )

    @activity.defn(name=ActivityName.VERIFY_KUBE)
    async def verify_kube_execution(self, request: VerifyRequest) -> VerificationResult:
        cluster = await self._cluster(request.customer_id or request.recommendation.customer_id)
        problems: list[str] = []
        for step in request.recommendation.steps:
            ref = deployment_ref(step.target)
            try:
                state = await cluster.read(ref)
            except KubeActionError as error:
                return VerificationResult(passed=False, problems=[f"{ref}: {error.code}: {error.message}"])
            problems += deployment_mismatches(step, state)
            if step.action is StepAction.APPLY_AUTOSCALER:
                wanted = autoscaler_of(step)
                found = await Autoscalers(cluster).read(ref)
                if found != wanted:
                    problems.append(f"{ref}: autoscaler is {found or 'absent'}, not {wanted.describe()}")
        return VerificationResult(passed=not problems, problems=problems)

    async def _cluster(self, customer_id: str | None) -> Deployments:
        try:
            cluster = await self._clusters.for_customer(customer_id)
        except ConnectionUnusableError as error:
            raise ApplicationError(str(error), type="ConnectionUnusable") from error
        if cluster is None:
            raise ApplicationError(
                f"neither customer {customer_id} nor this worker has a Kubernetes cluster configured",
                type="NoCluster",
                non_retryable=True,
            )
        return cluster

    async def _perform(
        self, step_id: str, step: ExecutionStep | CompensationStep, success: StepStatus, cluster: Deployments
    ) -> StepResult:
        try:
            detail = await self._dispatch(step, cluster, compensating=success is StepStatus.COMPENSATED)
        except KubeActionError as error:
            raise ApplicationError(
                f"{error.code}: {error.message}", type=error.code, non_retryable=not error.retryable
            ) from error
        return StepResult(
            step_id=step_id,
            action=step.action,
            target=step.target,
            status=success,
            detail=detail,
            resource_ids=[step.target],
            finished_at=datetime.now(UTC),
        )

    async def _dispatch(
        self, step: ExecutionStep | CompensationStep, cluster: Deployments, *, compensating: bool
    ) -> str:
        ref = deployment_ref(step.target)
        match step.action:
            case StepAction.SCALE_DEPLOYMENT:
                return (await cluster.scale(ref, int(step.params["replicas"]))).summary
            case StepAction.SET_VLLM_ARGS:
                expected = step.params.get("expected")
                changed = await cluster.set_args(
                    ref,
                    list(json.loads(step.params["args"])),
                    expected=None if compensating or expected is None else list(json.loads(expected)),
                    container=step.params.get("container"),
                )
                timeout = _bounded(float(step.params.get("rollout_timeout_seconds", "600")))
                await cluster.wait_rolled_out(
                    ref,
                    timeout_s=timeout,
                    poll_s=self._poll_seconds,
                    on_poll=lambda state: activity.heartbeat(
                        f"{state.updated_replicas}/{state.replicas} updated"
                    ),
                )
                return f"{changed.summary}; rolled out"
            case StepAction.DRAIN_PODS:
                pods = _pods(step)
                await cluster.set_serving(ref, pods, serving=False)
                timeout = _bounded(float(step.params.get("timeout_seconds", "300")))
                return await self._wait_drained(cluster, ref, pods, timeout)
            case StepAction.RESTORE_PODS:
                restored = await cluster.set_serving(ref, _pods(step), serving=True)
                return f"{len(restored)} pods of {ref} back in traffic: {', '.join(restored) or 'none left'}"
            case StepAction.APPLY_AUTOSCALER:
                return (await Autoscalers(cluster).apply(autoscaler_of(step))).summary
            case StepAction.REMOVE_AUTOSCALER:
                return (await Autoscalers(cluster).remove(ref)).summary
        raise ApplicationError(f"not a Kubernetes step: {step.action}", non_retryable=True)

    async def _wait_drained(
        self, cluster: Deployments, ref: DeploymentRef, pods: list[str], timeout_s: float
    ) -> str:
        """Until every drained pod that still exists holds no request; fails (so the saga restores
        them) when the time runs out."""
        deadline = time.monotonic() + timeout_s
        while True:
            state = await cluster.read(ref)
            holding: dict[str, float | None] = {}
            for pod in (p for p in state.pods if p.name in pods):
                count = await self._probe.in_flight(pod)
                if count is None or count > 0:
                    holding[pod.name] = count
            if not holding:
                return (
                    f"{len(pods)} pods of {ref} out of traffic with no request in flight: {', '.join(pods)}"
                )
            activity.heartbeat({name: count for name, count in holding.items()})
            if time.monotonic() >= deadline:
                waiting = ", ".join(
                    f"{name} ({'unreadable metrics' if count is None else f'{count:.0f} in flight'})"
                    for name, count in holding.items()
                )
                raise KubeActionError(
                    "DrainTimeout", f"not drained within {timeout_s:.0f}s: {waiting}", False
                )
            await asyncio.sleep(self._poll_seconds)


def autoscaler_of(step: ExecutionStep | CompensationStep) -> PodsMetricAutoscaler:
    """The autoscaler an APPLY_AUTOSCALER step (or compensation) puts in place."""
    return PodsMetricAutoscaler.model_validate_json(step.params["autoscaler"])


def deployment_mismatches(step: ExecutionStep, state: DeploymentState) -> list[str]:
    """What differs between the Deployment and what the step left it as."""
    ref = state.ref
    match step.action:
        case StepAction.SCALE_DEPLOYMENT:
            wanted = int(step.params["replicas"])
            found: list[str] = []
            if state.replicas != wanted:
                found.append(f"{ref} has {state.replicas} replicas, not {wanted}")
            elif state.ready_replicas < wanted:
                found.append(f"{ref}: only {state.ready_replicas} of {wanted} replicas are ready")
            return found
        case StepAction.SET_VLLM_ARGS:
            wanted_args = list(json.loads(step.params["args"]))
            if state.args != wanted_args:
                return [f"{ref} runs {' '.join(state.args)}, not {' '.join(wanted_args)}"]
            if not state.rolled_out:
                return [f"{ref} has not finished rolling out its new arguments"]
            return []
        case StepAction.DRAIN_PODS:
            left = sorted({p.name for p in state.pods} & set(_pods(step)))
            return [f"{ref} still runs drained pods {', '.join(left)}"] if left else []
    return []
