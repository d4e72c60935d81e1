"""Snapshots of a Kubernetes-served workload for the Performance agent's analyzers: an 8B model on
L40S nodes, a daily traffic cycle on a 10-minute grid, latencies as the capacity estimator predicts them
(the silicon reference covers this deployment) at each window's load."""

import math
from datetime import UTC, datetime, timedelta

from agents.performance.serving import ServingContext, serving_context
from agents.performance.slo import slo_target
from optiinfra.capacity import config_for_instance
from optiinfra.capacity.estimate import CapacityEstimator
from optiinfra.capacity.models import capacity_model_for
from optiinfra.capacity.shape import TokenShape
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.fleet import Customer, Workload, WorkloadSnapshot
from optiinfra.domain.kube import DeploymentRef, DeploymentState, PodState
from optiinfra.domain.performance import ReplicaLoad, RequestRateHistory, WorkloadWindow

CATALOG = PriceCatalog.load_default()
MODEL = "meta-llama/Llama-3.1-8B-Instruct"
TYPE = "g6e.xlarge"
NOW = datetime(2026, 11, 16, 6, tzinfo=UTC)
PROMPT, OUTPUT = 2000.0, 250.0
PERIOD = 600
WINDOWS_KEPT = 24 * 6
"""The snapshot's measurement windows: the last day's."""


def daily_rate(at: datetime, mean: float, amplitude: float, peak_hour: float = 15.0) -> float:
    hour = at.hour + at.minute / 60
    return max(0.0, mean + amplitude * math.cos(2 * math.pi * (hour - peak_hour) / 24))


def kube_snapshot(
    *,
    replicas: int,
    mean_rps: float,
    amplitude_rps: float,
    args: list[str] | None = None,
    slowdown: float = 1.0,
    critical: bool = False,
    days: int = 14,
    loads: dict[str, float] | None = None,
    slo_itl_p95_s: float = 0.08,
) -> WorkloadSnapshot:
    """`slowdown` multiplies the measured latencies over the model's: the replicas run slower than
    modelled, which the Dynamo-style correction must pick up."""
    workload = Workload(
        customer_id="acme",
        workload_id="assistant",
        name="Assistant",
        model_name=MODEL,
        region="us-east-1",
        critical=critical,
        slo_ttft_p95_s=3.0,
        slo_itl_p95_s=slo_itl_p95_s,
        kube_namespace="llm",
        kube_deployment="assistant",
    )
    instance_type = CATALOG.get(TYPE, "us-east-1")
    config = config_for_instance(instance_type, capacity_model_for(MODEL))
    shape = TokenShape(PROMPT, OUTPUT)
    estimator = CapacityEstimator()
    start = NOW - timedelta(days=days)
    count = days * 24 * 6
    rates = [
        daily_rate(start + timedelta(seconds=index * PERIOD), mean_rps, amplitude_rps)
        for index in range(count)
    ]
    windows: list[WorkloadWindow] = []
    # The snapshot keeps the windows of the last day (its rate history covers every day): only those are
    # measured through the capacity estimator, the slow part.
    for index in range(max(0, count - WINDOWS_KEPT), count):
        at = start + timedelta(seconds=index * PERIOD)
        rate = rates[index]
        found = estimator.operating_point_at_rate(config, shape, rate / replicas)
        requests = rate * PERIOD
        windows.append(
            WorkloadWindow(
                start=at,
                seconds=PERIOD,
                replicas=replicas,
                requests=requests,
                request_rate=rate,
                prompt_tokens=requests * PROMPT,
                generation_tokens=requests * OUTPUT,
                errors=0,
                preemptions=0,
                ttft_mean=None if found is None else found.ttft_mean_s * slowdown,
                ttft_p95=None if found is None else found.ttft_p95_s * slowdown,
                itl_mean=None if found is None else found.tpot_mean_s * slowdown,
                itl_p95=None if found is None else found.tpot_p95_s * slowdown,
            )
        )
    pods = [
        PodState(
            name=f"assistant-abc-{index}",
            ready=True,
            serving=True,
            phase="Running",
            created_at=NOW - timedelta(hours=index),
            template_hash="abc",
        )
        for index in range(replicas)
    ]
    deployment = DeploymentState(
        ref=DeploymentRef(namespace="llm", name="assistant"),
        replicas=replicas,
        ready_replicas=replicas,
        updated_replicas=replicas,
        available_replicas=replicas,
        generation=1,
        observed_generation=1,
        container="vllm",
        args=args if args is not None else ["--model", MODEL, "--max-num-seqs", "256"],
        gpus_per_replica=1,
        node_instance_type=TYPE,
        pods=pods,
    )
    return WorkloadSnapshot(
        customer=Customer(customer_id="acme", name="Acme"),
        workload=workload,
        instances=[],
        instance_types={TYPE: instance_type},
        candidate_types=CATALOG.types_in("us-east-1"),
        series=[],
        collected_at=NOW,
        deployment=deployment,
        windows=windows,
        request_rate=RequestRateHistory(start=start, interval_seconds=PERIOD, values=rates),
        replica_loads=[
            ReplicaLoad(replica=pod.name, instance_type=TYPE, request_rate=(loads or {}).get(pod.name, 1.0))
            for pod in pods
        ],
    )


def context_of(snapshot: WorkloadSnapshot) -> ServingContext:
    """The Performance agent's view of one replica of the snapshot's Deployment."""
    target = slo_target(snapshot.workload)
    assert target is not None
    context = serving_context(snapshot, target)
    assert isinstance(context, ServingContext), context
    return context
