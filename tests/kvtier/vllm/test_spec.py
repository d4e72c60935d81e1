"""`KvtierOffloadingSpec`: its extra config, and the class built over fakes of vLLM's, end to end."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import kvtier.vllm.spec as spec_module
from kvtier.vllm._vllm import load_vllm_api
from kvtier.vllm.spec import KvtierConfig, KvtierConfigError, build_spec_class, parse_extra_config
from tests.kvtier.vllm.fakes import (
    FakeBlockIDsLoadStoreSpec,
    FakeEngine,
    FakeGPULoadStoreSpec,
    FakeOffloadingEvent,
    FakeOffloadingHandler,
    FakeOffloadingManager,
    FakeOffloadingSpec,
    FakeWorker,
    chain_hashes,
    fake_api,
    fake_vllm_config,
    gpu_layers,
)

CONFIG = {"spec_name": "KvtierOffloadingSpec", "spec_module_path": "kvtier.vllm.spec", "block_size": 8}


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
        ({"host_blocks": 4, "block_size": 0}, r"\['block_size'\] must be an integer >= 1"),
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
        workers=2, block_size=8,
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


def test_the_spec_rejects_a_block_size_that_is_not_whole_gpu_blocks() -> None:
    spec_class: Any = build_spec_class(fake_api())
    with pytest.raises(KvtierConfigError, match=r"\(10 tokens\) must be a multiple of vLLM's block size \(4"):
        spec_class(fake_vllm_config({"host_blocks": 4, "block_size": 10}))


def test_the_scheduler_side_needs_the_worker_side_in_its_process() -> None:
    spec_class: Any = build_spec_class(fake_api())
    scheduler_side = spec_class(fake_vllm_config({**CONFIG, "host_blocks": 4}))
    with pytest.raises(RuntimeError, match="tensor_parallel_size=1"):
        scheduler_side.get_manager()
    sharded = spec_class(fake_vllm_config({**CONFIG, "host_blocks": 4}, world_size=2))
    kv_caches = {"layer.0": np.zeros((4, 8, 2), dtype=np.float16)}
    with pytest.raises(KvtierConfigError, match="has 2 workers"):
        list(sharded.get_handlers(kv_caches))


def test_both_connector_roles_share_one_store_end_to_end(tmp_path: Path) -> None:
    api = fake_api(dataclass_results=True)
    spec_class: Any = build_spec_class(api)
    assert spec_class.__name__ == "KvtierOffloadingSpec" and issubclass(spec_class, FakeOffloadingSpec)
    extra = {
        **CONFIG,
        "host_blocks": 2,
        "disk_blocks": 16,
        "disk_path": str(tmp_path),
        "policy": "lru+tinylfu",
    }
    layers = gpu_layers(48, 4)

    worker_side = spec_class(fake_vllm_config(extra))  # vLLM builds the worker's KV caches first
    handlers = list(
        worker_side.get_handlers({f"model.layers.{i}.attn": array for i, (array, _) in enumerate(layers)})
    )
    assert [(src.medium(), dst.medium()) for src, dst, _ in handlers] == [
        ("GPU", "KVTIER"),
        ("KVTIER", "GPU"),
    ]
    handler: Any = handlers[0][2]
    assert handlers[1][2] is handler and issubclass(type(handler), FakeOffloadingHandler)
    worker = FakeWorker()
    for src, dst, each in handlers:
        worker.register_handler(src, dst, each)

    scheduler_side = spec_class(fake_vllm_config(extra))
    manager: Any = scheduler_side.get_manager()
    assert scheduler_side.get_manager() is manager
    assert issubclass(type(manager), FakeOffloadingManager) and manager.store is handler.store
    assert manager.store.block_bytes == 2 * (2 * 4 * 2 * 8 * 2 + 4 * 12 * 4)  # block_size 8 = 2 GPU blocks
    assert (tmp_path / f"kvtier-{os.getpid()}.arena").exists()

    engine = FakeEngine(manager, worker, layers, gpu_block_size=4, factor=2)
    tokens = list(range(48))
    first = engine.run(tokens)
    assert (first.stored, first.store_ok) == (6, True)
    assert isinstance(first.store_output.store_spec, FakeBlockIDsLoadStoreSpec)  # vLLM 0.12 asserts this
    second = engine.run(tokens[:32] + list(range(1000, 1016)))
    assert (second.hits, second.load_ok, second.gpu_matches) == (4, True, True)
    assert isinstance(second.load_spec, FakeBlockIDsLoadStoreSpec) and second.load_spec.medium() == "KVTIER"
    events = list(manager.take_events())
    assert all(isinstance(event, FakeOffloadingEvent) for event in events)
    stored = [key for event in events if not event.removed for key in event.block_hashes]
    assert set(chain_hashes(tokens, 4)[1::2]) <= set(stored)
    handler.shutdown()


def test_the_gpu_spec_class_handed_to_vllm_is_vllms() -> None:
    spec_class: Any = build_spec_class(fake_api())
    worker_side = spec_class(fake_vllm_config({"host_blocks": 4}))
    (src, dst, handler), _ = worker_side.get_handlers({"l": np.zeros((4, 4, 2), dtype=np.float32)})
    assert src is FakeGPULoadStoreSpec and issubclass(dst, FakeBlockIDsLoadStoreSpec)
    handler.shutdown()


def test_the_vllm_class_is_built_lazily_and_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if vllm were not installed
    load_vllm_api.cache_clear()
    spec_module.vllm_spec_class.cache_clear()
    try:
        with pytest.raises(ImportError, match=r"needs vLLM >= 0\.11"):
            _ = spec_module.KvtierOffloadingSpec
        with pytest.raises(AttributeError, match="no attribute 'Nope'"):
            _ = spec_module.Nope
    finally:
        load_vllm_api.cache_clear()
        spec_module.vllm_spec_class.cache_clear()


def test_importing_the_integration_loads_neither_vllm_nor_torch() -> None:
    code = (
        "import sys, kvtier.vllm, kvtier.vllm.spec, kvtier.vllm.handlers, kvtier.vllm.manager\n"
        "assert 'vllm' not in sys.modules and 'torch' not in sys.modules, sorted(sys.modules)\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=Path(__file__).parents[3])
