"""deploy/grafana/dashboards: each dashboard loads, queries the provisioned Prometheus data source, names
only metrics OptiInfra or the Temporal SDK exports, and every panel's PromQL parses (promtool, offline:
each expression checked as a recording rule). That each one returns data from a running stack is the
real-Prometheus tier's test (tests/real/test_dashboards_on_a_stack.py)."""

import subprocess
from pathlib import Path

import pytest
import yaml

from api.prometheus import ApiMetrics
from optiinfra.engine import metrics_runtime
from tests.deploy.support import DEPLOY, require_tool
from tests.support.dashboards import dashboards, queries

DATA_SOURCE_UID = "prometheus"
WORKER_COUNTERS = (
    metrics_runtime.OPTIMIZATIONS_STARTED,
    metrics_runtime.OPTIMIZATIONS_FINISHED,
    metrics_runtime.SAVINGS_EXECUTED_USD,
    metrics_runtime.COMPENSATIONS,
    metrics_runtime.LLM_TOKENS,
)
WORKER_HISTOGRAMS = (metrics_runtime.LLM_COST_USD, metrics_runtime.SCHEDULE_LAG_SECONDS)
WORKER_GAUGES = (metrics_runtime.LLM_CIRCUIT_BREAKER_STATE,)
SDK_METRICS = frozenset(
    {
        "temporal_workflow_completed_total",
        "temporal_workflow_failed_total",
        "temporal_activity_execution_failed_total",
        "temporal_activity_execution_latency_seconds_count",
        "temporal_activity_schedule_to_start_latency_seconds_bucket",
        "temporal_workflow_task_schedule_to_start_latency_seconds_bucket",
    }
)
"""The Temporal SDK's own metrics the dashboards read (the real-Prometheus tier sees them exported)."""


def _histogram(name: str) -> set[str]:
    return {f"{name}_bucket", f"{name}_sum", f"{name}_count"}


def exported_names() -> set[str]:
    """Every series name OptiInfra's API and workers export, as Prometheus stores them."""
    names = {f"{name}_total" for name in WORKER_COUNTERS} | set(WORKER_GAUGES)
    for name in WORKER_HISTOGRAMS:
        names |= _histogram(name)
    for family in ApiMetrics(fleet_refresh_seconds=60).registry.collect():
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names |= _histogram(family.name)
        else:
            names.add(family.name)
    return names


def test_the_dashboards_are_there_with_unique_ids() -> None:
    found = dashboards()
    assert set(found) == {"savings.json", "slo.json", "recommendations.json", "workflows.json", "llm.json"}
    uids = [board["uid"] for board in found.values()]
    assert len(set(uids)) == len(uids)
    for name, board in found.items():
        assert board["title"].startswith("OptiInfra / "), name
        assert all(panel.get("targets") for panel in board["panels"]), name
        ids = [panel["id"] for panel in board["panels"]]
        assert len(set(ids)) == len(ids), name


def test_every_query_uses_the_provisioned_data_source() -> None:
    provisioned = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text(encoding="utf-8")
    )
    assert [source["uid"] for source in provisioned["datasources"]] == [DATA_SOURCE_UID]
    for name, board in dashboards().items():
        for panel in board["panels"]:
            sources = [panel["datasource"], *(target["datasource"] for target in panel["targets"])]
            assert all(s == {"type": "prometheus", "uid": DATA_SOURCE_UID} for s in sources), (
                name,
                panel["title"],
            )
        for variable in board["templating"]["list"]:
            assert variable["datasource"]["uid"] == DATA_SOURCE_UID, (name, variable["name"])


def test_every_metric_a_dashboard_names_is_exported() -> None:
    known = exported_names() | SDK_METRICS
    unknown = {(q.dashboard, q.title, name) for q in queries() for name in q.metric_names() - known}
    assert not unknown


def test_the_dashboards_cover_what_operators_watch() -> None:
    """The savings, SLO (with our changes as annotations), approvals, workflow health and LLM cost."""
    named = {q.dashboard: set() for q in queries()}
    for query in queries():
        named[query.dashboard] |= query.metric_names()
    assert {"optiinfra_workload_spend_usd_per_hour", "optiinfra_savings_executed_usd_total"} <= named[
        "savings.json"
    ]
    assert {
        "optiinfra_workload_slo_attainment_ratio",
        "optiinfra_workload_last_change_timestamp_seconds",
    } <= named["slo.json"]
    (annotation,) = [q for q in queries() if q.title.startswith("annotation:")]
    assert annotation.dashboard == "slo.json"
    assert "optiinfra_workload_last_change_timestamp_seconds" in annotation.metric_names()
    assert {"optiinfra_approval_queue_pending", "optiinfra_approval_queue_oldest_age_seconds"} <= named[
        "recommendations.json"
    ]
    assert {
        "optiinfra_compensations_total",
        "optiinfra_schedule_lag_seconds_bucket",
        "temporal_workflow_failed_total",
    } <= named["workflows.json"]
    assert {"optiinfra_llm_cost_usd_sum", "optiinfra_llm_tokens_total"} <= named["llm.json"]


def test_every_query_parses(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    rules = [
        {"record": f"dashboard:query_{n}", "expr": query.for_prometheus()}
        for n, query in enumerate(queries())
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}), encoding="utf-8")
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(rules)} rules found" in checked.stdout


def test_a_query_that_does_not_parse_is_caught(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    path = tmp_path / "bad.yml"
    bad = {"record": "dashboard:bad", "expr": "sum by (tier (optiinfra_llm_tokens_total)"}
    path.write_text(yaml.safe_dump({"groups": [{"name": "bad", "rules": [bad]}]}), encoding="utf-8")
    assert subprocess.run([promtool, "check", "rules", str(path)], capture_output=True).returncode != 0


@pytest.mark.parametrize("name", ["savings.json", "slo.json"])
def test_the_customer_and_workload_variables_filter_the_fleet_panels(name: str) -> None:
    board = dashboards()[name]
    assert [v["name"] for v in board["templating"]["list"]] == ["customer", "workload"]
    fleet = [q for q in queries() if q.dashboard == name and "optiinfra_workload_" in q.expr]
    assert fleet and all(
        'customer=~"$customer"' in q.expr and 'workload=~"$workload"' in q.expr for q in fleet
    )
