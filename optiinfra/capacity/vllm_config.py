"""The capacity model's configuration for a replica started with given vLLM arguments: the arguments that
change what a replica carries (tensor-parallel degree, batch limits, memory share) over vLLM's defaults on
the instance type. Shared by the Performance agent (reading a Deployment) and the twin (running its pods)."""

import contextlib
from collections.abc import Sequence
from dataclasses import replace

from optiinfra.capacity.models import ModelSpec
from optiinfra.capacity.roofline import ServingConfig, config_for_instance
from optiinfra.domain.fleet import InstanceType
from optiinfra.kube.vllm_args import flag_value, positive_int_flag


def config_from_vllm_args(
    instance_type: InstanceType,
    model: ModelSpec,
    args: Sequence[str],
    *,
    gpus_per_replica: int | None = None,
) -> ServingConfig:
    """vLLM's defaults on `instance_type`, with what `args` sets; the GPU count is `--tensor-parallel-size`,
    else `gpus_per_replica` (the GPUs the pod requests), never above what the instance has."""
    config = config_for_instance(instance_type, model)
    gpus = positive_int_flag(args, "--tensor-parallel-size") or gpus_per_replica or config.gpu_count
    config = replace(config, gpu_count=max(1, min(gpus, instance_type.gpu_count)))
    seqs = positive_int_flag(args, "--max-num-seqs")
    if seqs is not None:
        config = replace(config, max_num_seqs=seqs)
    batched = positive_int_flag(args, "--max-num-batched-tokens")
    if batched is not None:
        config = replace(config, max_num_batched_tokens=batched)
    memory = flag_value(args, "--gpu-memory-utilization")
    if memory:
        with contextlib.suppress(ValueError):
            config = replace(config, gpu_memory_utilization=float(memory))
    return config
