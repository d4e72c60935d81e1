"""The Grafana dashboards under deploy/grafana/dashboards and their PromQL, as the deploy checks and the
real-Prometheus test read them: every panel's and annotation's expression, with Grafana's variables
replaced by what a query to Prometheus itself needs."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DASHBOARDS = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "dashboards"
OWN_METRIC = re.compile(r"\b((?:optiinfra|temporal)_[a-z0-9_]+)\b")


@dataclass(frozen=True)
class Query:
    dashboard: str
    title: str
    expr: str

    def for_prometheus(self, *, rate_interval: str = "1m", range_: str = "1h") -> str:
        """The expression with the dashboards' variables set: all customers and workloads, the given
        `$__rate_interval` and `$__range`."""
        return (
            self.expr.replace("$__rate_interval", rate_interval)
            .replace("$__range", range_)
            .replace("$customer", ".*")
            .replace("$workload", ".*")
        )

    def metric_names(self) -> set[str]:
        return set(OWN_METRIC.findall(self.expr))


def dashboards() -> dict[str, dict[str, Any]]:
    """File name -> the dashboard's JSON."""
    return {
        path.name: json.loads(path.read_text(encoding="utf-8")) for path in sorted(DASHBOARDS.glob("*.json"))
    }


def queries() -> list[Query]:
    """Every panel target's expression and every Prometheus annotation's, in file order."""
    found = []
    for name, board in dashboards().items():
        for panel in board["panels"]:
            found += [Query(name, panel["title"], target["expr"]) for target in panel.get("targets", [])]
        for annotation in board.get("annotations", {}).get("list", []):
            if "expr" in annotation:
                found.append(Query(name, f"annotation: {annotation['name']}", annotation["expr"]))
    return found
