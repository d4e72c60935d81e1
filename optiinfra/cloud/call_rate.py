"""Calls per second to one cloud account or one Kubernetes cluster, per worker process.

AWS throttles each account's API per region (EC2's Describe calls refill at about 20 a second) and a
Kubernetes API server its clients (client-go defaults to 5 a second); a worker that fans a fleet scan out
over hundreds of workloads must stay under both, whatever else shares the account. Each account and
region, and each cluster, gets a token bucket in the process: calls beyond its rate wait their turn
instead of drawing `Throttling` errors (which the retries would only make worse).

`OPTIINFRA_CLOUD_CALLS_PER_SECOND` and `OPTIINFRA_KUBE_CALLS_PER_SECOND` set the rates of one worker
process (0: no limit), which `optiinfra worker` applies at start; with N cloud worker processes an account
sees at most N times the rate. Until then (the embedded stack, whose twin cloud does not throttle) calls
are not limited."""

import asyncio
import threading
import time
from collections.abc import Callable

from optiinfra.settings import Settings

BURST_SECONDS = 2.0
"""A bucket holds this many seconds' worth of calls: a short burst goes out at once."""


class TokenBucket:
    """`rate` calls a second on average, bursts of up to `burst`; safe to share between threads (boto3
    calls run in worker threads) and the event loop."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError(f"a bucket needs a positive rate and a burst of at least 1, got {rate}, {burst}")
        self._rate, self._burst, self._clock = rate, burst, clock
        self._tokens = burst
        self._at = clock()
        self._lock = threading.Lock()

    def reserve(self) -> float:
        """Take one call's token, borrowing ahead when there is none: how long to wait before calling."""
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._at) * self._rate)
            self._at = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self._rate

    def acquire_blocking(self) -> None:
        delay = self.reserve()
        if delay > 0:
            time.sleep(delay)

    async def acquire(self) -> None:
        delay = self.reserve()
        if delay > 0:
            await asyncio.sleep(delay)


class CallRates:
    """One bucket per key (`aws:<access key>:<region>`, `kube:<API URL>`), all at this process's rate."""

    def __init__(self, cloud_per_second: float, kube_per_second: float) -> None:
        self.cloud_per_second, self.kube_per_second = cloud_per_second, kube_per_second
        self._buckets: dict[str, TokenBucket] = {}
        self._lock = threading.Lock()

    def aws(self, access_key_id: str | None, region: str) -> TokenBucket | None:
        return self._bucket(f"aws:{access_key_id or 'default'}:{region}", self.cloud_per_second)

    def kube(self, api_url: str) -> TokenBucket | None:
        return self._bucket(f"kube:{api_url}", self.kube_per_second)

    def _bucket(self, key: str, rate: float) -> TokenBucket | None:
        if rate <= 0:
            return None
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(rate, max(1.0, rate * BURST_SECONDS))
            return bucket


_process_rates = CallRates(0.0, 0.0)


def process_call_rates() -> CallRates:
    """The rates every adapter of this process draws on."""
    return _process_rates


def configure_call_rates(settings: Settings) -> CallRates:
    """Set this process's rates from the settings (a worker does it once, at start)."""
    global _process_rates
    _process_rates = CallRates(settings.cloud_calls_per_second, settings.kube_calls_per_second)
    return _process_rates
