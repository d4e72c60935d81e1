"""The twin's Kubernetes: an in-process cluster (Deployments, Pods, the controllers that drive them) served
over real HTTP to the official client, so the adapter under test is the one that runs in production."""

from optiinfra.sim.kube.errors import ApiError
from optiinfra.sim.kube.manifests import VLLM_IMAGE, vllm_deployment_manifest
from optiinfra.sim.kube.server import KubeApiServer, start_kube_server
from optiinfra.sim.kube.state import ApiEvent, KubeCluster, PodHook, template_hash

__all__ = [
    "VLLM_IMAGE",
    "ApiError",
    "ApiEvent",
    "KubeApiServer",
    "KubeCluster",
    "PodHook",
    "start_kube_server",
    "template_hash",
    "vllm_deployment_manifest",
]
