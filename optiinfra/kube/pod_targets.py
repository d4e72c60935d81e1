"""Scrape targets of a workload's vLLM pods, read from its Deployment."""

from optiinfra.domain.fleet import Workload
from optiinfra.domain.kube import DeploymentRef
from optiinfra.kube.deployments import Deployments
from optiinfra.kube.in_flight import PodMetricsUrl
from optiinfra.metrics.collector import ScrapeTarget


class DeploymentPodTargets:
    """Every running pod of the Deployment, draining ones included (their in-flight count matters)."""

    def __init__(self, deployments: Deployments, metrics_url: PodMetricsUrl) -> None:
        self._deployments = deployments
        self._metrics_url = metrics_url

    async def pod_targets(self, workload: Workload) -> list[ScrapeTarget]:
        if workload.kube_namespace is None or workload.kube_deployment is None:
            return []
        state = await self._deployments.read(
            DeploymentRef(namespace=workload.kube_namespace, name=workload.kube_deployment)
        )
        found: list[ScrapeTarget] = []
        for pod in state.pods:
            url = self._metrics_url(pod)
            if url is not None and pod.phase == "Running":
                found.append(ScrapeTarget(replica=pod.name, url=url))
        return found
