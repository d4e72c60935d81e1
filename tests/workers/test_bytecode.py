"""The worker's check that the workflows' modules have bytecode the import system will use."""

import py_compile
import sys
from pathlib import Path
from types import ModuleType

from workers.bytecode import without_bytecode


def _module(path: Path) -> ModuleType:
    module = ModuleType(path.stem)
    module.__file__ = str(path)
    return module


def test_a_module_is_named_until_its_bytecode_is_compiled_and_again_once_its_source_changes(
    tmp_path: Path,
) -> None:
    source = tmp_path / "some_workflow.py"
    source.write_text("LIMIT = 1\n")
    module = _module(source)
    assert without_bytecode([module]) == [str(source)]

    py_compile.compile(str(source), doraise=True)
    assert without_bytecode([module]) == []

    source.write_text("LIMIT = 100\n")  # another size, whatever the clock's resolution
    assert without_bytecode([module]) == [str(source)]


def test_modules_without_a_python_source_are_left_out() -> None:
    assert without_bytecode([sys, ModuleType("made_in_memory")]) == []
