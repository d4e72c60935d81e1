"""A realistic Deployment manifest for one vLLM workload, for seeding the twin and for tests."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from optiinfra.domain.kube import INSTANCE_TYPE_LABEL, SERVE_LABEL

VLLM_IMAGE = "vllm/vllm-openai:v0.11.0"
VLLM_PORT = 8000
NAME_LABEL = "app.kubernetes.io/name"


def vllm_deployment_manifest(
    namespace: str,
    name: str,
    model: str,
    instance_type: str,
    gpus: int = 1,
    replicas: int = 1,
    extra_args: Sequence[str] = (),
    *,
    max_num_seqs: int = 256,
    image: str = VLLM_IMAGE,
    termination_grace_period_s: int = 60,
) -> dict[str, Any]:
    """An apps/v1 Deployment serving `model` with vLLM's OpenAI server on `gpus` GPUs per replica.

    The selector is only `app.kubernetes.io/name`, while the pods also carry `optiinfra.io/serve: "true"`:
    a Service selecting on both stops sending traffic to a pod relabelled "false", and the pod stays in its
    ReplicaSet (the drain mechanism)."""
    labels = {NAME_LABEL: name, SERVE_LABEL: "true"}
    args = [
        "--model",
        model,
        "--tensor-parallel-size",
        str(gpus),
        "--max-num-seqs",
        str(max_num_seqs),
        "--port",
        str(VLLM_PORT),
        *extra_args,
    ]
    container: dict[str, Any] = {
        "name": "vllm",
        "image": image,
        "args": args,
        "ports": [{"name": "http", "containerPort": VLLM_PORT}],
        "readinessProbe": {
            "httpGet": {"path": "/health", "port": VLLM_PORT},
            "periodSeconds": 5,
            "failureThreshold": 3,
        },
        "startupProbe": {
            "httpGet": {"path": "/health", "port": VLLM_PORT},
            "periodSeconds": 10,
            "failureThreshold": 60,
        },
        "resources": {
            "limits": {"nvidia.com/gpu": str(gpus)},
            "requests": {"nvidia.com/gpu": str(gpus)},
        },
        "volumeMounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": {NAME_LABEL: name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {NAME_LABEL: name}},
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"},
            },
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "containers": [container],
                    "nodeSelector": {INSTANCE_TYPE_LABEL: instance_type},
                    "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                    "terminationGracePeriodSeconds": termination_grace_period_s,
                    "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory"}}],
                },
            },
        },
    }
