"""First-principles capacity model of vLLM replicas: GPU and model specs, roofline step times, and a
queueing model that turns offered load into latencies, for the digital twin and for sizing."""

from optiinfra.capacity.gpus import GpuSpec, gpu_spec_for, gpu_spec_for_instance
from optiinfra.capacity.models import SERVED_MODELS, ModelSpec, model_spec
from optiinfra.capacity.roofline import (
    MemoryBudget,
    ReplicaLoad,
    ReplicaPerformance,
    ServingConfig,
    config_for_instance,
    decode_step_seconds,
    decode_throughput_tokens_per_s,
    kv_capacity_tokens,
    max_rps_under_slo,
    max_throughput_rps,
    memory_budget,
    prefill_seconds,
    prefill_throughput_tokens_per_s,
    replica_performance,
)

__all__ = [
    "SERVED_MODELS",
    "GpuSpec",
    "MemoryBudget",
    "ModelSpec",
    "ReplicaLoad",
    "ReplicaPerformance",
    "ServingConfig",
    "config_for_instance",
    "decode_step_seconds",
    "decode_throughput_tokens_per_s",
    "gpu_spec_for",
    "gpu_spec_for_instance",
    "kv_capacity_tokens",
    "max_rps_under_slo",
    "max_throughput_rps",
    "memory_budget",
    "model_spec",
    "prefill_seconds",
    "prefill_throughput_tokens_per_s",
    "replica_performance",
]
