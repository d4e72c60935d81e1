"""`TorchPagedKV` against a numpy stand-in for the torch calls it makes: checks its indexing and its stream
ordering, not CUDA (torch is not installed here; the real tier runs vLLM's own tensors)."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from kvtier.vllm.handlers import NumpyPagedKV, TorchPagedKV, paged_kv_from_vllm
from tests.kvtier.vllm.fake_engine import canonical_kv_caches

Array = npt.NDArray[Any]


class FakeDevice:
    def __init__(self, type: str, index: int | None = None) -> None:
        self.type = type
        self.index = index

    def __eq__(self, other: object) -> bool:
        return isinstance(other, FakeDevice) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __repr__(self) -> str:
        return f"{self.type}:{self.index}" if self.index is not None else self.type


CUDA = FakeDevice("cuda", 0)
CPU = FakeDevice("cpu")


class FakeTensor:
    def __init__(self, array: Array, device: FakeDevice = CUDA) -> None:
        self.a = array
        self.device = device

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.a.shape)

    @property
    def dtype(self) -> Any:
        return self.a.dtype

    def __getitem__(self, index: int) -> "FakeTensor":
        return FakeTensor(self.a[index], self.device)

    def numel(self) -> int:
        return int(self.a.size)

    def element_size(self) -> int:
        return int(self.a.itemsize)

    def index_select(self, dim: int, index: "FakeTensor") -> "FakeTensor":
        assert dim == 0 and index.device == self.device and index.a.dtype == np.int64
        return FakeTensor(np.take(self.a, index.a, axis=0), self.device)

    def contiguous(self) -> "FakeTensor":
        return FakeTensor(np.ascontiguousarray(self.a), self.device)

    def view(self, dtype: Any) -> "FakeTensor":
        assert self.a.flags.c_contiguous, "torch's view(dtype) needs a unit stride last dimension"
        return FakeTensor(self.a.view(dtype), self.device)

    def reshape(self, *shape: int) -> "FakeTensor":
        return FakeTensor(self.a.reshape(shape), self.device)

    def cpu(self) -> "FakeTensor":
        return FakeTensor(self.a.copy(), CPU)

    def to(self, device: FakeDevice) -> "FakeTensor":
        return FakeTensor(self.a.copy(), device)

    def numpy(self) -> Array:
        assert self.device == CPU
        return self.a

    def index_copy_(self, dim: int, index: "FakeTensor", source: "FakeTensor") -> "FakeTensor":
        assert dim == 0 and index.device == source.device == self.device
        assert source.a.dtype == self.a.dtype and source.shape[1:] == self.shape[1:]
        self.a[index.a] = source.a
        return self


def make_fake_torch(log: list[str]) -> ModuleType:
    class Stream:
        def __init__(self, device: FakeDevice) -> None:
            assert device == CUDA
            self.device = device

        def wait_event(self, event: Any) -> None:
            log.append(f"wait {event.name}")

        def synchronize(self) -> None:
            log.append("synchronize")

    class Event:
        count = 0

        def __init__(self) -> None:
            Event.count += 1
            self.name = f"event{Event.count}"

        def record(self, stream: Any) -> None:
            log.append(f"record {self.name} on {stream}")

    @contextmanager
    def stream(selected: Any) -> Iterator[None]:
        log.append("enter side stream")
        yield
        log.append("leave side stream")

    module = ModuleType("torch")
    module.uint8 = np.uint8  # type: ignore[attr-defined]
    module.from_numpy = lambda array: FakeTensor(array, CPU)  # type: ignore[attr-defined]
    module.cuda = SimpleNamespace(  # type: ignore[attr-defined]
        Stream=Stream, Event=Event, stream=stream, current_stream=lambda device: f"model stream of {device}"
    )
    return module


def test_torch_paged_kv_moves_the_same_bytes_as_the_numpy_one(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    monkeypatch.setitem(sys.modules, "torch", make_fake_torch(log))
    rng = np.random.default_rng(3)
    arrays: list[Array] = [
        rng.integers(-128, 128, (10, 48), dtype=np.int8),  # vLLM's canonical (num_blocks, page_bytes)
        rng.standard_normal((10, 4, 6)).astype(np.float32),
    ]
    tensors = [FakeTensor(array.copy()) for array in arrays]
    kv = paged_kv_from_vllm(canonical_kv_caches(tensors))
    assert isinstance(kv, TorchPagedKV)
    reference = NumpyPagedKV(arrays)
    assert (kv.num_blocks, kv.block_nbytes) == (reference.num_blocks, reference.block_nbytes) == (10, 48 + 96)

    ids = np.array([9, 0, 4], dtype=np.int64)
    fence = kv.fence()
    staged = np.empty((3, kv.block_nbytes), dtype=np.uint8)
    kv.gather(ids, staged, fence)
    expected = np.empty_like(staged)
    reference.gather(ids, expected, None)
    assert np.array_equal(staged, expected)
    assert log == [
        "record event1 on model stream of cuda:0",  # the fence marks the model's queued work
        "enter side stream",
        "wait event1",  # the copy waits for it on the side stream
        "leave side stream",
    ]

    log.clear()
    targets = np.array([1, 2, 3], dtype=np.int64)
    kv.scatter(targets, staged, kv.fence())
    for tensor, array in zip(tensors, arrays, strict=True):
        assert np.array_equal(tensor.a[targets], array[ids])
        assert np.array_equal(tensor.a[[0, 4, 9]], array[[0, 4, 9]])  # nothing else written
    assert log[-2:] == ["synchronize", "leave side stream"]  # the bytes are on the GPU when it returns


def test_torch_paged_kv_needs_layers_that_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", make_fake_torch([]))
    with pytest.raises(ValueError, match="disagree on the number of blocks"):
        TorchPagedKV(
            [FakeTensor(np.zeros((4, 8), dtype=np.int8)), FakeTensor(np.zeros((5, 8), dtype=np.int8))]
        )
