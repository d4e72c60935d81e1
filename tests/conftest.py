"""Shared fixtures, and the tiers of the suite.

Each real part the tests need lives in its own module under tests/support; those modules import their part
(Temporal, moto and the cloud adapters, the store) only when one of their fixtures runs.

Every test gets one tier marker, from where it lives (TIERS: the longest matching path under tests/ wins):
- `unit` (the default): pure tests that need no server, no store and none of Temporal, moto or the stores'
  libraries; `make test-fast` runs them. A test of a unit path that asks for a server fixture
  (SERVER_FIXTURES) is moved to the integration tier.
- `integration`: the rest of the parallel tier, against the real dev server, moto, SQLite and PostgreSQL,
  chdb, subprocesses, and the benchmarks' end-to-end runs.
- `browser`, `peers`, `real_vllm` / `real_prometheus`: their own tiers, each with its own make target.
The `postgres` marker comes with the PostgreSQL parameter of the database fixtures (tests/support/postgres).

Run alone (`pytest -m unit`, as `make test-fast` does), the unit tier does not even collect the other
tiers' paths, and fails any module or test that loads one of UNIT_FORBIDDEN_MODULES, naming it: such a
test belongs in an integration path of TIERS."""

import sys
from pathlib import Path

import pytest

pytest_plugins = [
    "tests.support.postgres",
    "tests.support.cloud",
    "tests.support.temporal",
    "tests.support.data",
    "tests.support.openai_stub",
    "tests.support.real_vllm",
]

TESTS_ROOT = Path(__file__).resolve().parent
UNIT, INTEGRATION = "unit", "integration"
TIERS: dict[str, str] = {
    "": UNIT,
    "activities": INTEGRATION,
    "api": INTEGRATION,
    "deploy": INTEGRATION,  # the deployment files checked against the whole app
    "replay": INTEGRATION,
    "workflows": INTEGRATION,
    "workers/test_worker_slots.py": INTEGRATION,  # the worker module brings Temporal and the store
    "test_embedded_extra.py": INTEGRATION,
    "agents/cost/test_autoscaling.py": INTEGRATION,  # the twin's seeder brings the EC2 adapter and Temporal
    "optiinfra/bench": INTEGRATION,  # whole benchmark runs
    "optiinfra/catalog/test_refresh.py": INTEGRATION,
    "optiinfra/cli": INTEGRATION,
    "optiinfra/cloud": INTEGRATION,
    "optiinfra/connections": INTEGRATION,
    "optiinfra/control": INTEGRATION,
    "optiinfra/embedded": INTEGRATION,
    "optiinfra/engine": INTEGRATION,
    "optiinfra/kube/test_call_rate.py": INTEGRATION,
    "optiinfra/metrics/test_collector.py": INTEGRATION,
    "optiinfra/metrics/test_prometheus_windows.py": INTEGRATION,
    "optiinfra/metrics/test_reporting.py": INTEGRATION,
    "optiinfra/metrics/test_store.py": INTEGRATION,  # chdb
    "optiinfra/observability": INTEGRATION,
    "optiinfra/privacy": INTEGRATION,
    "optiinfra/reports/test_inference_cost.py": INTEGRATION,
    "optiinfra/reports/test_savings.py": INTEGRATION,
    "optiinfra/sim/test_moto_server.py": INTEGRATION,
    "optiinfra/sim/test_seed.py": INTEGRATION,
    "optiinfra/sim/twin/test_fleet.py": INTEGRATION,  # feeds a real chdb store
    "optiinfra/store": INTEGRATION,
    "portal": "browser",
    "peers": "peers",
    "real": "real_vllm",  # its tests carry real_vllm or real_prometheus themselves
}
LONG_RUNNING = (
    "optiinfra/engine/test_up_supervision.py",
    "optiinfra/bench/test_plan_bench.py",
    "optiinfra/embedded/test_embedded_run.py",
    "api/test_openapi_contract.py",
    "optiinfra/bench/test_scale_bench.py",
    "test_embedded_extra.py",
    "optiinfra/bench/test_scaling_bench.py",
    "deploy/test_kubernetes.py",
    "workflows/test_worker_crash.py",
    "workflows/test_scan_worker_killed.py",
    "optiinfra/embedded/test_demo_determinism.py",
    "agents/resource/test_resource.py",
)
"""Files whose tests take from tens of seconds to minutes each (measured): they run first, so that under
pytest-xdist no worker starts one of them while the other has nothing left to do. Only an ordering hint."""
REAL_ENGINE_MARKERS = ("real_vllm", "real_prometheus")
OWN_TIER_MARKERS = (*REAL_ENGINE_MARKERS, "browser", "peers")
SERVER_FIXTURES = frozenset(
    {
        "temporal_dev_server",
        "temporal_client",
        "moto_endpoint",
        "demo_clouds",
        "seeded_cloud",
        "seeded_cloud_no_metrics",
        "postgres_cluster",
        "postgres_url",
        "database_url",
        "empty_database_url",
        "tiny_llama",
        "real_vllm",
    }
)
MOONCAKE_PROFILE_GROUP = "mooncake-profile"
"""Tests using `mooncake_replica_profile` (tests/support/data.py) share a worker, which replays it once."""
UNIT_FORBIDDEN_MODULES = ("temporalio", "moto", "optiinfra.store", "chdb")
_loaded_key = pytest.StashKey[set[str]]()
"""The forbidden modules already loaded when the unit tier's tests start (none, run alone)."""


def tier_of(path: Path) -> str:
    """The tier TIERS gives a path (a file or a folder) under tests/."""
    try:
        relative = path.resolve().relative_to(TESTS_ROOT).as_posix()
    except ValueError:
        return UNIT
    matches = [
        prefix for prefix in TIERS if prefix == "" or relative == prefix or relative.startswith(prefix + "/")
    ]
    return TIERS[max(matches, key=len)]


def _holds_unit_paths(folder: Path) -> bool:
    """Whether a folder, or anything TIERS lists under it, is of the unit tier."""
    if tier_of(folder) == UNIT:
        return True
    relative = folder.resolve().relative_to(TESTS_ROOT).as_posix()
    return any(tier == UNIT and prefix.startswith(relative + "/") for prefix, tier in TIERS.items())


def _unit_only(config: pytest.Config) -> bool:
    return str(config.getoption("markexpr", "")).strip() == UNIT


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Run alone, the unit tier skips the other tiers' folders and files (and their conftest files) before
    anything in them is imported."""
    if not _unit_only(config) or collection_path.resolve() == TESTS_ROOT:
        return None
    if collection_path.is_dir():
        return True if not _holds_unit_paths(collection_path) else None
    if collection_path.suffix == ".py" and tier_of(collection_path) != UNIT:
        return True
    return None


def _forbidden_loaded() -> set[str]:
    return {name for name in UNIT_FORBIDDEN_MODULES if name in sys.modules}


@pytest.hookimpl(wrapper=True)
def pytest_make_collect_report(collector: pytest.Collector) -> pytest.CollectReport:
    """Run alone, the unit tier fails a test module or folder (its conftest.py) whose import loads Temporal,
    moto or a store."""
    before = _forbidden_loaded()
    report: pytest.CollectReport = yield
    if not isinstance(collector, pytest.Session) and _unit_only(collector.config) and report.passed:
        loaded = _forbidden_loaded() - before
        if loaded:
            report.outcome = "failed"
            report.longrepr = (
                f"{collector.path} is of the unit tier, but importing it loads {', '.join(sorted(loaded))}: "
                "list it (or its folder) as integration in TIERS in tests/conftest.py"
            )
    return report


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> pytest.TestReport:
    """Run alone, the unit tier fails the first test that loads Temporal, moto or a store as it runs."""
    report: pytest.TestReport = yield
    if call.when == "teardown" and _unit_only(item.config) and not report.failed:
        loaded = _forbidden_loaded() - item.config.stash.get(_loaded_key, set())
        if loaded:
            item.config.stash[_loaded_key] = _forbidden_loaded()
            report.outcome = "failed"
            report.longrepr = (
                f"{item.nodeid} is a unit test, but running it loaded {', '.join(sorted(loaded))}: "
                "list its module (or folder) as integration in TIERS in tests/conftest.py"
            )
    return report


@pytest.hookimpl(tryfirst=True)  # before pytest-xdist reads the groups
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """One tier marker per test (see the module's docstring). Under pytest-xdist (--dist loadgroup) the
    real-engine tiers stay on one worker, so their session's vLLM servers start once (`make test` runs them
    on their own anyway), and so do the tests of the session's Mooncake replay."""
    config.stash[_loaded_key] = _forbidden_loaded()
    for item in items:
        if any(item.get_closest_marker(name) for name in REAL_ENGINE_MARKERS):
            _group(config, item, "real-engines")
        elif "mooncake_replica_profile" in getattr(item, "fixturenames", ()):
            _group(config, item, MOONCAKE_PROFILE_GROUP)
        if any(item.get_closest_marker(name) for name in OWN_TIER_MARKERS):
            continue
        tier = tier_of(item.path)
        if tier == UNIT and SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            tier = INTEGRATION
        item.add_marker(tier)
    items.sort(key=lambda item: not _long_running(item))  # stable: the order is kept within each part


def _long_running(item: pytest.Item) -> bool:
    try:
        relative = item.path.resolve().relative_to(TESTS_ROOT).as_posix()
    except ValueError:
        return False
    return relative in LONG_RUNNING


def _group(config: pytest.Config, item: pytest.Item, group: str) -> None:
    """Keep `item` on the one pytest-xdist worker of `group` under --dist loadgroup. pytest-xdist 3.8 tells
    the scheduler an item's group by suffixing its node id with "@group", through an attribute pytest 9 no
    longer reads its node id from (`_nodeid`); pytest 9 keeps the id in `_id`, which is set here instead."""
    item.add_marker(pytest.mark.xdist_group(group))
    node_id = getattr(item, "_id", None)
    if getattr(config.option, "loadgroup", False) and node_id is not None and "@" not in item.nodeid:
        item._id = type(node_id).parse(f"{item.nodeid}@{group}")
