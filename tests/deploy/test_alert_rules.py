"""deploy/prometheus/rules/optiinfra.rules.yml: valid for Prometheus (`promtool check rules`), and each
alert fires on the series that should raise it and not on near misses (`promtool test rules` with
alert_rules.test.yml). That each rule evaluates against a running stack is the real-Prometheus tier's."""

import subprocess

import yaml

from tests.deploy.support import DEPLOY, HERE, require_tool

RULES = DEPLOY / "prometheus" / "rules" / "optiinfra.rules.yml"
ALERTS = {
    "OptiInfraCompensationFailed",
    "OptiInfraSloBreachAfterChange",
    "OptiInfraApprovalQueueStuck",
    "OptiInfraFleetFiguresStale",
}


def test_the_rules_are_valid() -> None:
    checked = subprocess.run(
        [require_tool("promtool"), "check", "rules", str(RULES)], capture_output=True, text=True
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in checked.stdout


def test_every_alert_has_a_unit_test_that_fires_it() -> None:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    assert {rule["alert"] for group in groups for rule in group["rules"]} == ALERTS
    cases = yaml.safe_load((HERE / "alert_rules.test.yml").read_text(encoding="utf-8"))["tests"]
    fired = {check["alertname"] for case in cases for check in case["alert_rule_test"] if check["exp_alerts"]}
    assert fired == ALERTS


def test_each_alert_fires_when_it_should_and_only_then() -> None:
    tested = subprocess.run(
        [require_tool("promtool"), "test", "rules", "alert_rules.test.yml"],
        capture_output=True,
        text=True,
        cwd=HERE,
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout
