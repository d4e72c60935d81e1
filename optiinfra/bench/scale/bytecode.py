"""The project's bytecode, brought up to date before the worker processes start, as the image ships it.

The sandbox imports a workflow's module afresh for every run. The image compiles the project's bytecode when
it is built (`UV_COMPILE_BYTECODE=1`), so each of those imports reads it; a source checkout under
`PYTHONDONTWRITEBYTECODE=1`, or one whose bytecode is older than its sources, compiles the module from source
on every run instead, a cost production does not pay (about a fifth of the orchestration process's CPU in a
profile of this benchmark). The benchmark compiles what is missing or stale in place, into the packages'
`__pycache__` folders, as `python -m compileall` does."""

import compileall
from pathlib import Path

import workflows

PACKAGES = ("optiinfra", "agents", "activities", "workflows", "workers")


def compile_project() -> None:
    """Write the bytecode of the project's packages where it is missing or older than its source."""
    compile_packages(Path(workflows.__file__).resolve().parent.parent, PACKAGES)


def compile_packages(root: Path, packages: tuple[str, ...]) -> None:
    for package in packages:
        if not compileall.compile_dir(root / package, quiet=1):
            raise RuntimeError(f"could not compile the bytecode of {root / package}")
