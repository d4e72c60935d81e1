"""Calls per second per account and per cluster: the token bucket's arithmetic on a hand-driven clock, one
bucket per account and region or cluster, and every AWS API call drawing from its account's (over real
HTTP to the twin; the Kubernetes side is in tests/optiinfra/kube/test_call_rate.py)."""

import pytest

from optiinfra.cloud import call_rate
from optiinfra.cloud.call_rate import CallRates, TokenBucket, configure_call_rates, process_call_rates
from optiinfra.cloud.ec2 import SIMULATOR_CREDENTIALS, Ec2Fleet
from optiinfra.settings import Settings
from tests.support.cloud import SeededCloud


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_goes_out_at_once_and_later_calls_wait_their_turn() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=2.0, burst=3, clock=clock)

    assert [bucket.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert bucket.reserve() == pytest.approx(0.5)  # the fourth borrows the next token, half a second out
    assert bucket.reserve() == pytest.approx(1.0)
    clock.now += 1.0  # two tokens refilled, both already promised
    assert bucket.reserve() == pytest.approx(0.5)


def test_an_idle_bucket_refills_to_its_burst_and_no_further() -> None:
    clock = Clock()
    bucket = TokenBucket(rate=10.0, burst=2, clock=clock)
    bucket.reserve(), bucket.reserve()
    clock.now += 60.0

    assert [bucket.reserve() for _ in range(2)] == [0.0, 0.0]
    assert bucket.reserve() == pytest.approx(0.1)


@pytest.mark.parametrize(("rate", "burst"), [(0.0, 5), (-1.0, 5), (1.0, 0.5)])
def test_a_bucket_refuses_a_rate_it_cannot_keep(rate: float, burst: float) -> None:
    with pytest.raises(ValueError, match="positive rate"):
        TokenBucket(rate, burst)


def test_each_account_and_region_and_each_cluster_has_a_bucket_of_its_own() -> None:
    rates = CallRates(cloud_per_second=5.0, kube_per_second=20.0)

    assert rates.aws("AKIA1", "us-east-1") is rates.aws("AKIA1", "us-east-1")
    assert rates.aws("AKIA1", "us-east-1") is not rates.aws("AKIA1", "eu-west-1")
    assert rates.aws("AKIA1", "us-east-1") is not rates.aws("AKIA2", "us-east-1")
    assert rates.aws(None, "us-east-1") is rates.aws(None, "us-east-1")  # the worker's own account
    assert rates.kube("https://a:6443") is not rates.kube("https://b:6443")
    assert rates.kube("https://a:6443") is not rates.aws("https://a:6443", "us-east-1")


def test_a_rate_of_zero_means_no_limit() -> None:
    rates = CallRates(cloud_per_second=0.0, kube_per_second=0.0)

    assert rates.aws("AKIA1", "us-east-1") is None
    assert rates.kube("https://a:6443") is None


class CountingRates(CallRates):  # also used by the Kubernetes adapter's test
    """Real buckets that also count which key each call drew from."""

    def __init__(self) -> None:
        super().__init__(cloud_per_second=1000.0, kube_per_second=1000.0)
        self.calls: list[str] = []

    def aws(self, access_key_id: str | None, region: str) -> TokenBucket | None:
        self.calls.append(f"aws:{access_key_id}:{region}")
        return super().aws(access_key_id, region)

    def kube(self, api_url: str) -> TokenBucket | None:
        self.calls.append(f"kube:{api_url}")
        return super().kube(api_url)


@pytest.fixture
def counting(monkeypatch: pytest.MonkeyPatch) -> CountingRates:
    rates = CountingRates()
    monkeypatch.setattr(call_rate, "_process_rates", rates)
    return rates


async def test_every_aws_call_draws_from_its_accounts_bucket(
    seeded_cloud_no_metrics: SeededCloud, counting: CountingRates
) -> None:
    fleet = Ec2Fleet(
        seeded_cloud_no_metrics.region, seeded_cloud_no_metrics.endpoint_url, SIMULATOR_CREDENTIALS
    )

    await fleet.describe_workload_instances("demo", "chat-8b")
    await fleet.describe_customer_instances("demo")

    key = f"aws:{SIMULATOR_CREDENTIALS.access_key_id}:{seeded_cloud_no_metrics.region}"
    assert counting.calls == [key, key]


def test_a_worker_takes_its_rates_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(call_rate, "_process_rates", CallRates(0.0, 0.0))

    configured = configure_call_rates(Settings(cloud_calls_per_second=3.0, kube_calls_per_second=7.0))

    assert process_call_rates() is configured
    assert (configured.cloud_per_second, configured.kube_per_second) == (3.0, 7.0)
