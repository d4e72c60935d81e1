"""`KvtierOffloadingSpec`: its extra config, and the class built over stand-ins of vLLM's, end to end."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import kvtier.vllm.spec as spec_module
from kvtier.vllm._vllm import load_vllm_api
from kvtier.vllm.metrics import METRICS
from kvtier.vllm.spec import KvtierConfig, KvtierConfigError, build_spec_class, parse_extra_config
from tests.kvtier.vllm.fake_engine import FakeEngine, canonical_kv_caches, kv_tensors
from tests.kvtier.vllm.standins import (
    CacheHitSource,
    LoadStoreSpec,
    Medium,
    OffloadingCounterMetadata,
    OffloadingEvent,
    OffloadingGaugeMetadata,
    OffloadingManager,
    OffloadingSpec,
    OffloadingWorker,
    TransferResult,
    offloading_config,
    standin_api,
)

CONFIG = {"spec_name": "KvtierOffloadingSpec", "spec_module_path": "kvtier.vllm.spec", "block_size": 8}
PAGES = (96, 40)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({}, "at least one tier"),
        ({"host_blocks": 0}, "at least one tier"),
        ({"host_blocks": "100"}, r"\['host_blocks'\] must be an integer >= 0, got '100'"),
        ({"host_blocks": True}, r"\['host_blocks'\] must be an integer"),
        ({"disk_blocks": -1}, r"\['disk_blocks'\] must be an integer >= 0"),
        ({"host_blocks": 4, "host_bytes": 1 << 20}, "one of host_blocks and host_bytes"),
        ({"host_blocks": 4, "policy": "mru"}, r"\['policy'\]: unknown eviction policy 'mru'"),
        (
            {"host_blocks": 4, "disk_policy": "lru+bloom"},
            r"\['disk_policy'\]: unknown admission filter 'bloom'",
        ),
        ({"host_blocks": 4, "policy": 3}, r"\['policy'\] must be a policy name"),
        ({"host_blocks": 4, "disk_path": "/tmp/kv"}, "disk_path is set but the disk tier has no capacity"),
        ({"disk_blocks": 4, "disk_path": ""}, r"\['disk_path'\] must be a path"),
        ({"host_blocks": 4, "pin_memory": "yes"}, r"\['pin_memory'\] must be true or false"),
        ({"host_blocks": 4, "workers": 0}, r"\['workers'\] must be an integer >= 1"),
        ({"host_block": 4}, "unknown kv_connector_extra_config key\\(s\\) 'host_block'"),
    ],
)
def test_bad_extra_config_fails_naming_the_key(extra: dict[str, Any], message: str) -> None:
    with pytest.raises(KvtierConfigError, match=message):
        parse_extra_config(extra)


def test_a_good_extra_config_becomes_tiers(tmp_path: Path) -> None:
    config = parse_extra_config(
        {
            **CONFIG,
            "host_bytes": 1 << 20,
            "disk_blocks": 100,
            "disk_path": str(tmp_path),
            "policy": "ARC",
            "disk_policy": "s3fifo",
            "workers": 2,
        }
    )
    assert config == KvtierConfig(
        host_bytes=1 << 20, disk_blocks=100, disk_path=str(tmp_path), policy="arc", disk_policy="s3fifo",
        workers=2,
    )  # fmt: skip
    host, disk = config.tiers()
    assert (host.kind, host.capacity_bytes, host.capacity_blocks, host.policy) == (
        "host",
        1 << 20,
        None,
        "arc",
    )
    assert (disk.kind, disk.capacity_blocks, disk.policy) == ("disk", 100, "s3fifo")
    assert disk.path == tmp_path / f"kvtier-{os.getpid()}.arena"  # a directory gets a per-process file
    assert (
        parse_extra_config({"disk_blocks": 3, "disk_path": str(tmp_path / "f")}).tiers()[0].path
        == tmp_path / "f"
    )
    assert hash(config) == hash(
        KvtierConfig(**{name: getattr(config, name) for name in KvtierConfig.__slots__})
    )


def test_vllms_own_keys_pass_through_to_vllm() -> None:
    extra = {
        "spec_name": "KvtierOffloadingSpec",
        "spec_module_path": "kvtier.vllm.spec",
        "blocks_per_chunk": 2,
        "offload_prompt_only": False,
        "self_describing_kv_events": True,
        "canonical_layout": True,
        "host_blocks": 4,
    }
    assert parse_extra_config(extra) == KvtierConfig(host_blocks=4)


def test_the_spec_refuses_several_workers() -> None:
    spec_class: Any = build_spec_class(standin_api())
    with pytest.raises(KvtierConfigError, match="this engine has 2 workers"):
        spec_class(offloading_config({**CONFIG, "host_blocks": 4}, world_size=2))


@pytest.mark.parametrize("groups", [0, 2])
def test_the_spec_refuses_anything_but_one_kv_cache_group(groups: int) -> None:
    spec_class: Any = build_spec_class(standin_api())
    with pytest.raises(
        KvtierConfigError, match=f"one KV cache group \\(full attention\\); this one has {groups}"
    ):
        spec_class(offloading_config({**CONFIG, "host_blocks": 4}, groups=groups))


def test_the_spec_checks_its_extra_config_first() -> None:
    spec_class: Any = build_spec_class(standin_api())
    with pytest.raises(KvtierConfigError, match="at least one tier"):
        spec_class(offloading_config(CONFIG))


def test_the_scheduler_side_needs_the_worker_side_in_its_process() -> None:
    spec_class: Any = build_spec_class(standin_api())
    scheduler_side = spec_class(offloading_config({**CONFIG, "host_blocks": 4}))
    with pytest.raises(RuntimeError, match="no store for this configuration in this process"):
        scheduler_side.get_manager()


def test_both_connector_roles_share_one_store_end_to_end(tmp_path: Path) -> None:
    spec_class: Any = build_spec_class(standin_api())
    assert spec_class.__name__ == "KvtierOffloadingSpec" and issubclass(spec_class, OffloadingSpec)
    extra = {
        **CONFIG,
        "host_blocks": 2,
        "disk_blocks": 16,
        "disk_path": str(tmp_path),
        "policy": "lru+tinylfu",
    }
    tensors = kv_tensors(48, PAGES)

    worker_side = spec_class(offloading_config(extra))  # vLLM registers the worker's KV caches first
    assert (worker_side.blocks_per_chunk, worker_side.chunk_tokens) == (2, 8)
    worker: Any = worker_side.get_worker(canonical_kv_caches(tensors))
    assert worker_side.get_worker(canonical_kv_caches(tensors)) is worker
    assert issubclass(type(worker), OffloadingWorker)

    scheduler_side = spec_class(offloading_config(extra))
    manager: Any = scheduler_side.get_manager()
    assert scheduler_side.get_manager() is manager
    assert issubclass(type(manager), OffloadingManager) and manager.store is worker.store
    assert manager.store.block_bytes == 2 * sum(PAGES)  # one chunk: 2 GPU blocks of every KV tensor
    assert (tmp_path / f"kvtier-{os.getpid()}.arena").exists()

    engine = FakeEngine(manager, worker, tensors, tokens_per_block=4, blocks_per_chunk=2)
    tokens = list(range(48))
    first = engine.run(tokens)
    assert first.stored == 6 and first.store_job is not None
    result = engine.results[first.store_job]
    assert isinstance(result, TransferResult)  # the worker answers with vLLM's result class
    assert (result.success, result.transfer_size) == (True, 6 * 2 * sum(PAGES))
    assert isinstance(first.store_output.store_spec, LoadStoreSpec)
    second = engine.run(tokens[:32] + list(range(1000, 1016)))
    assert (second.hit_tokens, second.load_ok, second.gpu_matches) == (32, True, True)
    assert isinstance(second.load_spec, LoadStoreSpec)
    assert second.sources == {CacheHitSource.HOST: 16, CacheHitSource.DISK: 16}
    events = list(manager.take_events())
    assert events and all(
        isinstance(event, OffloadingEvent) and event.medium is Medium.CPU for event in events
    )
    stored = {key for event in events if not event.removed for key in event.keys}
    assert set(engine.offload_keys(tokens)) <= stored


def test_without_kv_cache_events_the_manager_keeps_none(tmp_path: Path) -> None:
    spec_class: Any = build_spec_class(standin_api())
    config = offloading_config({**CONFIG, "host_blocks": 8}, events=False)
    tensors = kv_tensors(16, PAGES)
    worker = spec_class(config).get_worker(canonical_kv_caches(tensors))
    manager = spec_class(config).get_manager()
    engine = FakeEngine(manager, worker, tensors, tokens_per_block=4, blocks_per_chunk=2)
    assert engine.run(list(range(16))).stored == 2
    assert list(manager.take_events()) == []


def test_a_second_kv_cache_of_another_page_size_cannot_share_the_store() -> None:
    spec_class: Any = build_spec_class(standin_api())
    config = offloading_config({**CONFIG, "host_blocks": 8})
    spec_class(config).get_worker(canonical_kv_caches(kv_tensors(8, PAGES)))
    with pytest.raises(ValueError, match=f"holds {2 * sum(PAGES)}-byte blocks, but this KV cache needs"):
        spec_class(config).get_worker(canonical_kv_caches(kv_tensors(8, (96,))))


def test_kvtiers_metrics_are_defined_for_vllms_connector() -> None:
    spec_class: Any = build_spec_class(standin_api())
    definitions = spec_class.build_metric_definitions({"host_blocks": 4})
    assert list(definitions) == [metric.name for metric in METRICS]
    kinds = {metric.name: metric.kind for metric in METRICS}
    for name, definition in definitions.items():
        expected = OffloadingCounterMetadata if kinds[name] == "counter" else OffloadingGaugeMetadata
        assert type(definition) is expected, name
        assert definition.labelnames == ("tier",) and definition.documentation
    assert type(definitions["vllm:kvtier_hits"]) is OffloadingCounterMetadata
    assert type(definitions["vllm:kvtier_used_blocks"]) is OffloadingGaugeMetadata


def test_the_vllm_class_is_built_lazily_and_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if vllm were not installed
    load_vllm_api.cache_clear()
    spec_module.vllm_spec_class.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"needs vLLM's offloading API of vLLM 0\.32"):
            _ = spec_module.KvtierOffloadingSpec
        with pytest.raises(AttributeError, match="no attribute 'Nope'"):
            _ = spec_module.Nope
    finally:
        load_vllm_api.cache_clear()
        spec_module.vllm_spec_class.cache_clear()


def test_importing_the_integration_loads_neither_vllm_nor_torch() -> None:
    code = (
        "import sys, kvtier.vllm, kvtier.vllm.spec, kvtier.vllm.handlers, kvtier.vllm.manager, "
        "kvtier.vllm.metrics\n"
        "assert 'vllm' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3])
