"""deploy/prometheus and deploy/grafana as deploy/compose.yaml mounts them: promtool accepts the Prometheus
config with the rule files it loads through the mount, the scrape targets are the compose services' ports,
and the rules and dashboards folders are the ones the config and the dashboards provider read. The rules'
and the dashboards' own checks are test_alert_rules.py's and test_dashboards.py's."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path, PurePosixPath
from typing import Any

import yaml

from tests.deploy.support import DEPLOY, require_tool

COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PROMETHEUS: dict[str, Any] = yaml.safe_load(
    (DEPLOY / "prometheus" / "prometheus.yml").read_text(encoding="utf-8")
)
PROVISIONING = DEPLOY / "grafana" / "provisioning"
DASHBOARDS = DEPLOY / "grafana" / "dashboards"
DATASOURCE_UID = "prometheus"


def bind_mounts(service: str) -> dict[PurePosixPath, Path]:
    """The service's bind mounts: the path in the container, the path here."""
    found = {}
    for volume in SERVICES[service].get("volumes", []):
        source, target, *_ = volume.split(":")
        if source.startswith("."):
            found[PurePosixPath(target)] = (DEPLOY / source).resolve()
    return found


def host_path(service: str, path: str) -> Path:
    """Where a path inside the service's container comes from on this side of its bind mounts."""
    inside = PurePosixPath(path)
    for target, source in bind_mounts(service).items():
        if inside == target or target in inside.parents:
            return source.joinpath(*inside.relative_to(target).parts)
    raise AssertionError(f"{service}: nothing is mounted at {path}")


def rule_files() -> list[Path]:
    patterns = PROMETHEUS.get("rule_files", [])
    assert patterns, "prometheus.yml loads no rule file"
    found = []
    for pattern in patterns:
        folder = host_path("prometheus", str(PurePosixPath(pattern).parent))
        found += sorted(folder.glob(PurePosixPath(pattern).name))
    return found


def port_of(address: str) -> int:
    return int(address.rpartition(":")[2])


def test_the_rule_files_are_the_mounted_rules_folder() -> None:
    files = rule_files()
    assert DEPLOY / "prometheus" / "rules" / "optiinfra.rules.yml" in files
    for path in files:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert document["groups"], f"{path.name}: no group"


def test_promtool_accepts_the_config_and_the_rules(tmp_path: Path) -> None:
    promtool = require_tool("promtool")
    # The config as the container sees it: its rule_files pointed through the mount to this checkout.
    config = dict(PROMETHEUS)
    config["rule_files"] = [
        str(host_path("prometheus", str(PurePosixPath(p).parent)) / PurePosixPath(p).name)
        for p in PROMETHEUS["rule_files"]
    ]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    checked = subprocess.run(
        [promtool, "check", "config", "--lint=all", "--lint-fatal", str(tmp_path / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    for path in rule_files():
        assert f"Checking {path}" in checked.stdout, f"promtool did not read {path}"


def test_the_scrape_targets_are_the_compose_services_ports() -> None:
    jobs = {job["job_name"]: job for job in PROMETHEUS["scrape_configs"]}
    api = SERVICES["api"]["environment"]
    assert jobs["optiinfra-api"]["static_configs"] == [{"targets": [f"api:{api['OPTIINFRA_API_PORT']}"]}]
    workers = {name: s for name, s in SERVICES.items() if s.get("command") == ["worker"]}
    assert workers, "no worker service"
    (discovery,) = jobs["optiinfra-worker"]["dns_sd_configs"]
    assert sorted(discovery["names"]) == sorted(workers) and discovery["type"] == "A"
    for worker in workers.values():
        assert discovery["port"] == port_of(worker["environment"]["OPTIINFRA_WORKER_METRICS_ADDRESS"])
    temporal = SERVICES["temporal"]["environment"]["PROMETHEUS_ENDPOINT"]
    assert jobs["temporal"]["static_configs"] == [{"targets": [f"temporal:{port_of(temporal)}"]}]


def test_worker_metrics_carry_the_kind_of_their_service() -> None:
    """worker_kind: the service's OPTIINFRA_WORKER_KINDS, from its DNS name (Prometheus's relabeling regex is
    anchored at both ends)."""
    (relabel,) = {job["job_name"]: job for job in PROMETHEUS["scrape_configs"]}["optiinfra-worker"][
        "relabel_configs"
    ]
    assert relabel["source_labels"] == ["__meta_dns_name"] and relabel["target_label"] == "worker_kind"
    for name, service in SERVICES.items():
        if service.get("command") == ["worker"]:
            match = re.fullmatch(relabel["regex"], name)
            assert match is not None, name
            kind = match.expand(relabel.get("replacement", "$1").replace("$", "\\"))
            assert kind == service["environment"]["OPTIINFRA_WORKER_KINDS"], name


def test_grafana_provisions_the_prometheus_data_source_by_uid() -> None:
    provisioned = yaml.safe_load(
        (PROVISIONING / "datasources" / "prometheus.yaml").read_text(encoding="utf-8")
    )
    (source,) = provisioned["datasources"]
    assert source["uid"] == DATASOURCE_UID and source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090" and "prometheus" in SERVICES
    assert host_path("grafana", "/etc/grafana/provisioning") == PROVISIONING.resolve()


def test_grafana_provisions_the_mounted_dashboards() -> None:
    provisioned = yaml.safe_load((PROVISIONING / "dashboards" / "optiinfra.yaml").read_text(encoding="utf-8"))
    (provider,) = provisioned["providers"]
    assert provider["type"] == "file"
    assert host_path("grafana", provider["options"]["path"]) == DASHBOARDS.resolve()
    assert sorted(DASHBOARDS.glob("*.json")), f"no dashboard in {DASHBOARDS}"
