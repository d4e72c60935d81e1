import subprocess
import sys

import numpy as np
import pytest

from kvtier.blocks import DeviceTierUnavailableError
from kvtier.store import TieredStore, TierSpec
from kvtier.tiers.host import HostArena
from tests.kvtier.tiers.fake_torch import make_fake_torch


def block(key: int, size: int = 64) -> bytes:
    return key.to_bytes(8, "little") * (size // 8)


def test_kvtier_imports_neither_torch_nor_the_control_plane() -> None:
    code = (
        "import sys, kvtier, kvtier.store, kvtier.tiers, kvtier.policies, kvtier.belady;"
        "bad = [m for m in sys.modules if m.split('.')[0] in "
        "('torch', 'temporalio', 'optiinfra', 'agents', 'activities', 'workflows')];"
        "print(bad); sys.exit(1 if bad else 0)"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_a_device_tier_without_torch_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(DeviceTierUnavailableError, match="needs torch"):
        TieredStore(64, [TierSpec("device", capacity_blocks=2), TierSpec("host", capacity_blocks=2)])
    with pytest.raises(DeviceTierUnavailableError, match="needs torch"):
        HostArena(2, 64, pin_memory=True)


def test_a_device_tier_without_cuda_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", make_fake_torch(cuda=False))
    with pytest.raises(DeviceTierUnavailableError, match="CUDA device"):
        TieredStore(64, [TierSpec("device", capacity_blocks=2)])


def test_blocks_move_through_device_host_and_disk(monkeypatch: pytest.MonkeyPatch) -> None:
    """With torch stood in by numpy: slots, staging copies, demotion and promotion through the device tier."""
    monkeypatch.setitem(sys.modules, "torch", make_fake_torch())
    tiers = [
        TierSpec("device", capacity_blocks=2),
        TierSpec("host", capacity_blocks=2, pin_memory=True),
        TierSpec("disk", capacity_blocks=4),
    ]
    with TieredStore(64, tiers, promotion="next") as store:

        def where() -> list[str]:
            return [location.tier if (location := store.location(key)) else "-" for key in range(6)]

        for key in range(6):
            assert store.put(key, block(key))
        assert where() == ["disk", "disk", "host", "host", "device", "device"]
        assert store.get(0) == block(0)  # disk -> host; host's LRU (2) goes down
        assert where() == ["host", "disk", "disk", "host", "device", "device"]
        assert store.get(0) == block(0)  # host -> device; device's LRU (4) takes the slot 0 left
        assert where() == ["device", "disk", "disk", "host", "host", "device"]
        out = np.zeros(64, dtype=np.uint8)
        assert store.get_into(5, out) and out.tobytes() == block(5)
        assert all(store.get(key) == block(key) for key in range(6))
        store.check()
        device = store.stats().tier("device")
        assert device.promotions >= 1 and device.demotions >= 5
        assert sum(tier.used_blocks for tier in store.stats().tiers) == 6  # promotions pushed nothing out
