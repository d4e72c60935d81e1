"""`TorchPagedKV` against a numpy stand-in for the torch calls it makes: checks its indexing and its stream
ordering, not CUDA (no GPU here; a GPU machine with vLLM exercises the real thing)."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np
import pytest

from kvtier.vllm.handlers import NumpyPagedKV, TorchPagedKV, paged_kv_from_vllm


class FakeTensor:
    def __init__(self, array: np.ndarray, device: str = "cuda:0") -> None:
        self.a = array
        self.device = device

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.a.shape)

    @property
    def dtype(self) -> Any:
        return self.a.dtype

    def numel(self) -> int:
        return int(self.a.size)

    def element_size(self) -> int:
        return int(self.a.itemsize)

    def index_select(self, dim: int, index: "FakeTensor") -> "FakeTensor":
        assert index.device == self.device and index.a.dtype == np.int64
        return FakeTensor(np.take(self.a, index.a, axis=dim), self.device)

    def movedim(self, source: int, destination: int) -> "FakeTensor":
        return FakeTensor(np.moveaxis(self.a, source, destination), self.device)

    def contiguous(self) -> "FakeTensor":
        return FakeTensor(np.ascontiguousarray(self.a), self.device)

    def view(self, dtype: Any) -> "FakeTensor":
        assert self.a.flags.c_contiguous, "torch's view(dtype) needs a unit stride last dimension"
        return FakeTensor(self.a.view(dtype), self.device)

    def reshape(self, *shape: int) -> "FakeTensor":
        return FakeTensor(self.a.reshape(shape), self.device)

    def cpu(self) -> "FakeTensor":
        return FakeTensor(self.a.copy(), "cpu")

    def to(self, device: str) -> "FakeTensor":
        return FakeTensor(self.a.copy(), device)

    def numpy(self) -> np.ndarray:
        assert self.device == "cpu"
        return self.a

    def index_copy_(self, dim: int, index: "FakeTensor", source: "FakeTensor") -> "FakeTensor":
        assert index.device == source.device == self.device
        np.moveaxis(self.a, dim, 0)[index.a] = np.moveaxis(source.a, dim, 0)
        return self


def make_fake_torch(log: list[str]) -> ModuleType:
    class Stream:
        def __init__(self, device: str) -> None:
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
    module.from_numpy = lambda array: FakeTensor(array, "cpu")  # type: ignore[attr-defined]
    module.cuda = SimpleNamespace(  # type: ignore[attr-defined]
        Stream=Stream, Event=Event, stream=stream, current_stream=lambda device: "model stream"
    )
    return module


def test_torch_paged_kv_moves_the_same_bytes_as_the_numpy_one(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    monkeypatch.setitem(sys.modules, "torch", make_fake_torch(log))
    rng = np.random.default_rng(3)
    arrays: list[np.ndarray] = [
        rng.standard_normal((2, 10, 4, 2, 8)).astype(np.float16),
        rng.standard_normal((10, 4, 6)).astype(np.float32),
    ]
    tensors = [FakeTensor(array.copy()) for array in arrays]
    kv = paged_kv_from_vllm({"a": tensors[0], "b": tensors[1]})
    assert isinstance(kv, TorchPagedKV)
    reference = NumpyPagedKV(arrays, [1, 0])
    assert (kv.num_blocks, kv.block_nbytes) == (reference.num_blocks, reference.block_nbytes)

    ids = np.array([9, 0, 4], dtype=np.int64)
    fence = kv.fence()
    staged = np.empty((3, kv.block_nbytes), dtype=np.uint8)
    kv.gather(ids, staged, fence)
    expected = np.empty_like(staged)
    reference.gather(ids, expected, None)
    assert np.array_equal(staged, expected)
    assert log == ["record event1 on model stream", "enter side stream", "wait event1", "leave side stream"]

    log.clear()
    targets = np.array([1, 2, 3], dtype=np.int64)
    kv.scatter(targets, staged, kv.fence())
    assert np.array_equal(tensors[0].a[:, targets], arrays[0][:, ids])
    assert np.array_equal(tensors[1].a[targets], arrays[1][ids])
    assert log[-2:] == ["synchronize", "leave side stream"]  # the bytes are on the GPU when it returns
