"""A numpy stand-in for the few torch calls the device tier makes, so its code runs without a GPU. It checks
kvtier's logic (slots, staging copies), not CUDA: a machine with a GPU runs the same tests for real."""

from types import ModuleType, SimpleNamespace
from typing import Any

import numpy as np


class FakeTensor:
    def __init__(self, array: np.ndarray) -> None:
        self.array = array

    def __getitem__(self, index: Any) -> "FakeTensor":
        return FakeTensor(self.array[index])

    def copy_(self, other: "FakeTensor", non_blocking: bool = False) -> "FakeTensor":
        np.copyto(self.array, other.array)
        return self

    def numpy(self) -> np.ndarray:
        return self.array


def make_fake_torch(cuda: bool = True) -> ModuleType:
    module = ModuleType("torch")
    module.uint8 = np.uint8  # type: ignore[attr-defined]
    module.cuda = SimpleNamespace(is_available=lambda: cuda)  # type: ignore[attr-defined]

    def empty(shape: Any, dtype: Any, device: str | None = None, pin_memory: bool = False) -> FakeTensor:
        return FakeTensor(np.empty(shape, dtype=dtype))

    def zeros(shape: Any, dtype: Any, device: str | None = None, pin_memory: bool = False) -> FakeTensor:
        return FakeTensor(np.zeros(shape, dtype=dtype))

    module.empty = empty  # type: ignore[attr-defined]
    module.zeros = zeros  # type: ignore[attr-defined]
    return module
