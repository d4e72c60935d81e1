"""The demo's Kubernetes-served workload: vLLM pods of a Deployment, which the Performance agent scales and
tunes through the Kubernetes API (the twin serves one; see `optiinfra.sim.kube`).

- `assistant` serves Llama-3.1-8B on one L40S per pod (g6e.xlarge nodes). Its Deployment was sized by hand
  for the launch peak and left at 8 replicas, while its traffic swings through the day between about a
  fifth and a half of what 8 replicas carry within its SLO: a drain-first scale-down to what the forecast
  peak of the next interval needs, which waits for approval (removing serving replicas is medium risk).

Its traffic is the calibrated default generator (real Azure token mix and Mooncake prefix reuse) scaled to
the Deployment's capacity by the capacity model, with a daily cycle and no weekly one."""

from collections.abc import Sequence
from dataclasses import replace

from pydantic import BaseModel, Field

from optiinfra.capacity import config_for_instance
from optiinfra.capacity.estimate import CapacityEstimator
from optiinfra.capacity.models import capacity_model_for
from optiinfra.capacity.shape import ShapeSource, TokenShape
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.fleet import Workload
from optiinfra.sim.traffic import default_generator
from optiinfra.sim.traffic.models import HOUR_S
from optiinfra.sim.twin.fleet import ReplicaPlacement, TtftItlSlo, WorkloadTwinSpec

DEMO_NAMESPACE = "inference"
DEMO_PREFIX_TRACE = "mooncake/conversation_trace.jsonl"
"""The demo Deployment's recent prefix trace, relative to the shared data set: the real Mooncake conversation
trace stands for its requests' prompt blocks when the Resource agent plans KV tiering."""


class DemoKubeWorkload(BaseModel):
    """A workload whose replicas are the pods of a vLLM Deployment (named on its workload). Its mean
    rate is `mean_load` of what `replicas` pods carry within the workload's SLO, swinging by
    `daily_amplitude` of that mean, peaking at `peak_hour_utc`."""

    workload: Workload
    instance_type: str
    replicas: int = Field(ge=1)
    gpus_per_replica: int = Field(default=1, ge=1)
    max_num_seqs: int = Field(default=256, ge=1)
    mean_load: float = Field(gt=0, le=1)
    daily_amplitude: float = Field(default=0.0, ge=0, le=1)
    peak_hour_utc: float = Field(default=16.0, ge=0, lt=24)

    @property
    def slo(self) -> TtftItlSlo:
        ttft, itl = self.workload.slo_ttft_p95_s, self.workload.slo_itl_p95_s
        if ttft is None or itl is None:
            raise ValueError(f"demo workload {self.workload.workload_id!r} needs TTFT and ITL objectives")
        return TtftItlSlo(ttft_p95_s=ttft, itl_p95_s=itl)


def demo_kube_workloads(region: str) -> list[DemoKubeWorkload]:
    return [
        DemoKubeWorkload(
            workload=Workload(
                customer_id="demo",
                workload_id="assistant",
                name="Assistant",
                model_name="meta-llama/Llama-3.1-8B-Instruct",
                region=region,
                stateless=True,
                slo_ttft_p95_s=3.0,
                slo_itl_p95_s=0.08,
                kube_namespace=DEMO_NAMESPACE,
                kube_deployment="assistant",
            ),
            instance_type="g6e.xlarge",
            replicas=8,
            mean_load=0.35,
            daily_amplitude=0.45,
            peak_hour_utc=15.0,
        )
    ]


def kube_workload_spec(
    demo: DemoKubeWorkload, pods: Sequence[str], catalog: PriceCatalog, seed: int
) -> WorkloadTwinSpec:
    """The twin's view of the workload on these pods, with traffic scaled to the Deployment's SLO capacity
    by the capacity estimator on the default token mix."""
    instance_type = catalog.get(demo.instance_type, demo.workload.region)
    config = config_for_instance(instance_type, capacity_model_for(demo.workload.model_name))
    generator = default_generator(seed)
    mix = generator.token_mix
    slo = demo.slo
    shape = TokenShape.from_pairs(mix.pairs, ShapeSource.DEFAULT_MIX)
    capacity = (
        CapacityEstimator().max_rps_under_slo(config, shape, slo.ttft_p95_s, slo.itl_p95_s).requests_per_s
    )
    if not capacity > 0:
        raise ValueError(f"{demo.workload.model_name} on {demo.instance_type} cannot meet {slo}")
    traffic = replace(
        generator,
        base_rps=demo.mean_load * capacity * demo.replicas,
        daily_amplitude=demo.daily_amplitude,
        daily_peak_s=demo.peak_hour_utc * HOUR_S,
        weekly_amplitude=0.0,
    )
    return WorkloadTwinSpec(
        workload=demo.workload,
        replicas=[ReplicaPlacement(pod, pod, demo.instance_type) for pod in pods],
        traffic=traffic,
        token_mix=mix,
        slo=slo,
    )
