"""Every call of the Kubernetes adapter draws from its cluster's bucket (`optiinfra.cloud.call_rate`)."""

import pytest

from optiinfra.cloud import call_rate
from optiinfra.domain.kube import DeploymentRef
from optiinfra.kube.deployments import Deployments, KubeActionError
from optiinfra.sim.kube import KubeApiServer
from tests.optiinfra.cloud.test_call_rate import CountingRates


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingRates:
    rates = CountingRates()
    monkeypatch.setattr(call_rate, "_process_rates", rates)
    return rates


async def test_every_kubernetes_call_draws_from_its_clusters_bucket(
    deployments: Deployments, server: KubeApiServer, counting: CountingRates
) -> None:
    with pytest.raises(KubeActionError):  # not there: the answer came from the cluster all the same
        await deployments.read(DeploymentRef(namespace="default", name="nothing-here"))

    assert counting.calls == [f"kube:{server.url.rstrip('/')}"]
