"""The metrics pipeline end to end on a real vLLM: the collection workflow, on the real dev server,
scrapes the real engine standing in for one instance of a workload, and the window row it stores agrees
with what the test's own client sent and measured."""

from datetime import UTC, datetime, timedelta
from statistics import fmean
from uuid import uuid4

import pytest

from tests.real.client import complete_all, words
from tests.support.real_vllm import DEFAULT_KV_CACHE_BYTES, SERVED_NAME, VllmServer
from tests.workflows.conftest import CUSTOMER, Harness
from workflows.contracts import MetricsCollectionRequest, MetricsCollectionSummary
from workflows.metrics_collection import MetricsCollectionWorkflow

pytestmark = pytest.mark.real_vllm

WORKLOAD = "chat-8b"


async def _collection_pass(harness: Harness) -> MetricsCollectionSummary:
    return await harness.client.execute_workflow(
        MetricsCollectionWorkflow.run,
        MetricsCollectionRequest(activity_timeout_seconds=60),
        id=f"tests/collection/{uuid4()}",
        task_queue=harness.settings.temporal_task_queue,
        result_type=MetricsCollectionSummary,
    )


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_collection_workflow_stores_the_real_engines_window(
    harness: Harness, real_vllm: VllmServer
) -> None:
    instances = await harness.fleet.describe_workload_instances(CUSTOMER, WORKLOAD)
    replica = next(i for i in instances if i.state == "running").instance_id
    harness.targets.urls_by_instance[replica] = f"{real_vllm.url}/metrics"
    started = datetime.now(UTC)

    primed = await _collection_pass(harness)  # the first scrape only primes the counters
    assert primed.failures == []
    shared = words(250, 11)
    done = await complete_all(real_vllm.url, [f"{shared} {words(15, s)}" for s in range(10)], max_tokens=20)
    collected = await _collection_pass(harness)
    assert collected.failures == [] and collected.window_rows == 1

    rows = await harness.metrics.read_window_stats(
        CUSTOMER, WORKLOAD, started - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1)
    )
    (row,) = [r for r in rows if r.replica == replica]
    assert row.model_name == SERVED_NAME
    assert row.requests == len(done)
    assert row.prompt_tokens == sum(c.prompt_tokens for c in done)
    assert row.generation_tokens == sum(c.completion_tokens for c in done) == 20 * len(done)
    assert row.request_rate == pytest.approx(len(done) / row.window_seconds)
    assert row.prefix_hit_rate is not None and row.prefix_hit_rate > 0.5
    assert row.preemptions == 0 and row.errors == 0
    assert row.kv_capacity_tokens == DEFAULT_KV_CACHE_BYTES // 1024  # fp32 keys and values: 1 KiB a token
    assert row.ttft_mean is not None and 0 < row.ttft_mean <= fmean([c.ttft_s for c in done]) * 1.05
    assert row.e2e_mean is not None and row.e2e_mean <= fmean([c.e2e_s for c in done]) * 1.05
    assert row.ttft_p95 is not None and row.itl_p95 is not None and row.queue_p95 is not None
    windows = await harness.metrics.read_workload_windows(
        CUSTOMER, WORKLOAD, started - timedelta(minutes=1), datetime.now(UTC) + timedelta(minutes=1), 600
    )
    assert sum(w.requests for w in windows) >= len(done)
    assert min(w.kv_capacity_tokens or 0 for w in windows if w.requests) == row.kv_capacity_tokens
