"""deploy/kubernetes: every overlay renders with `kubectl kustomize` and validates for Kubernetes 1.32
(kubernetes-validate's bundled schemas, strict), the ServiceMonitors and the PrometheusRule against their
CRDs' schemas, the PrometheusRule's groups equal to deploy/prometheus/rules/optiinfra.rules.yml's; settings
are real, images pinned, secrets only by reference, every container port open in the NetworkPolicies, and
the worker's RBAC is exactly what the code calls."""

from __future__ import annotations

import copy
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from tests.deploy import code_scan
from tests.deploy.support import (
    DEPLOY,
    HERE,
    KUBERNETES_VERSION,
    OVERLAYS,
    cli_commands,
    is_optiinfra_setting_name,
    render_overlay,
    settings_env_names,
)

KUSTOMIZATIONS = {f"overlays/{name}": DEPLOY / "kubernetes" / "overlays" / name for name in OVERLAYS} | {
    "workload-namespace": DEPLOY / "kubernetes" / "workload-namespace"
}
CUSTOM_RESOURCES = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_prometheusrules.yaml",
}
RULES_FILE = DEPLOY / "prometheus" / "rules" / "optiinfra.rules.yml"
WORKER_METRICS_PORT = 9464


@cache
def kube_calls() -> dict[code_scan.Permission, set[str]]:
    return code_scan.kube_calls(code_scan.production_files())


@cache
def rendered(name: str) -> list[dict[str, Any]]:
    return render_overlay(KUSTOMIZATIONS[name])


def pod_specs(resources: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    found = []
    for resource in resources:
        if resource["kind"] in {"Deployment", "Job"}:
            found.append((resource["metadata"]["name"], resource["spec"]["template"]["spec"]))
    return found


def containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return [*spec.get("initContainers", []), *spec["containers"]]


def _closed(schema: Any) -> Any:
    """The CRD schema with unknown fields refused where it lists properties (the API server would prune
    them silently; here a typo should fail)."""
    if isinstance(schema, dict):
        schema = {key: _closed(value) for key, value in schema.items()}
        if (
            schema.get("type") == "object"
            and "properties" in schema
            and "additionalProperties" not in schema
            and not schema.get("x-kubernetes-preserve-unknown-fields")
        ):
            schema["additionalProperties"] = False
        return schema
    if isinstance(schema, list):
        return [_closed(item) for item in schema]
    return schema


@cache
def crd_schema(kind: str) -> dict[str, Any]:
    """The v1 schema of a vendored CRD (tests/deploy/schemas/), closed, for the custom resource `kind`."""
    crd = yaml.safe_load(
        (HERE / "schemas" / CUSTOM_RESOURCES[("monitoring.coreos.com/v1", kind)]).read_text()
    )
    assert crd["spec"]["names"]["kind"] == kind
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema = _closed(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata", "spec"})
    return schema


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_renders_and_validates_for_kubernetes_1_32(name: str) -> None:
    resources = rendered(name)
    assert resources
    for resource in resources:
        key = (resource["apiVersion"], resource["kind"])
        if key in CUSTOM_RESOURCES:
            errors = list(jsonschema.Draft7Validator(crd_schema(resource["kind"])).iter_errors(resource))
            assert not errors, (
                f"{name}: {resource['kind']}/{resource['metadata']['name']}: {errors[0].message}"
            )
            continue
        try:
            version = kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            pytest.fail(f"{name}: {resource['kind']}/{resource['metadata']['name']}: {path}: {error.message}")
        except kubernetes_validate.SchemaNotFoundError as error:
            pytest.fail(f"{name}: {error.message}")
        assert version == KUBERNETES_VERSION


PRODUCTION = [n for n in sorted(KUSTOMIZATIONS) if n.startswith("overlays/production")]


def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


@pytest.mark.parametrize("name", PRODUCTION)
def test_service_monitors_validate_and_reach_a_named_container_port(name: str) -> None:
    resources = rendered(name)
    monitors = {r["metadata"]["name"]: r for r in resources if r["kind"] == "ServiceMonitor"}
    assert set(monitors) == {"optiinfra-api", "optiinfra-worker"}
    services = [r for r in resources if r["kind"] == "Service"]
    deployments = [r for r in resources if r["kind"] == "Deployment"]
    for monitor_name, monitor in monitors.items():
        jsonschema.Draft7Validator(crd_schema("ServiceMonitor")).validate(monitor)
        selected = [
            s
            for s in services
            if selects(monitor["spec"]["selector"]["matchLabels"], s["metadata"]["labels"])
        ]
        assert len(selected) == 1, f"{monitor_name} selects {[s['metadata']['name'] for s in selected]}"
        service = selected[0]
        (endpoint,) = monitor["spec"]["endpoints"]
        (port,) = [p for p in service["spec"]["ports"] if p["name"] == endpoint["port"]]
        pods = [
            d["spec"]["template"]["spec"]
            for d in deployments
            if selects(service["spec"]["selector"], d["spec"]["template"]["metadata"]["labels"])
        ]
        assert pods, f"Service {service['metadata']['name']} selects no pod"
        for spec in pods:
            named = {p["name"] for c in spec["containers"] for p in c.get("ports", [])}
            assert port["targetPort"] in named, f"{monitor_name}: no container port {port['targetPort']}"


@pytest.mark.parametrize("name", PRODUCTION)
def test_prometheus_rule_validates_and_carries_the_rules_file(name: str) -> None:
    rules = [r for r in rendered(name) if r["kind"] == "PrometheusRule"]
    assert [r["metadata"]["name"] for r in rules] == ["optiinfra"]
    jsonschema.Draft7Validator(crd_schema("PrometheusRule")).validate(rules[0])
    groups = yaml.safe_load(RULES_FILE.read_text(encoding="utf-8"))["groups"]
    assert groups and all(group["rules"] for group in groups)
    assert rules[0]["spec"]["groups"] == groups, (
        f"components/service-monitor/prometheusrule.yaml differs from {RULES_FILE.relative_to(DEPLOY)}"
    )


def test_the_crd_schemas_refuse_a_typo() -> None:
    monitor = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": {"name": "x"},
        "spec": {"selector": {}, "endpoints": [{"port": "http", "intervall": "30s"}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(crd_schema("ServiceMonitor")).validate(monitor)
    rule = {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        "metadata": {"name": "x"},
        "spec": {"groups": [{"name": "g", "rules": [{"alert": "A", "expr": "up == 0", "fro": "5m"}]}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(crd_schema("PrometheusRule")).validate(rule)
    rule["spec"]["groups"][0]["rules"][0] = {"alert": "A", "expr": "up == 0", "for": "five minutes"}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(crd_schema("PrometheusRule")).validate(rule)


def test_kubernetes_validate_works_offline_with_bundled_schemas() -> None:
    assert KUBERNETES_VERSION in {
        kubernetes_validate.utils.major_minor(v) for v in kubernetes_validate.utils.all_versions()
    }
    broken = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "x"},
        "spec": {"replicas": "2"},
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSION, strict=True)


@pytest.mark.parametrize("name", [f"overlays/{o}" for o in OVERLAYS])
def test_every_optiinfra_variable_is_a_real_setting(name: str) -> None:
    resources = rendered(name)
    config_maps = {r["metadata"]["name"]: r.get("data", {}) for r in resources if r["kind"] == "ConfigMap"}
    known = settings_env_names()
    seen = set()
    for owner, spec in pod_specs(resources):
        for container in containers(spec):
            names = {entry["name"] for entry in container.get("env", [])}
            for source in container.get("envFrom", []):
                assert "secretRef" not in source, f"{owner}: secrets only by secretKeyRef, one name each"
                names |= set(config_maps[source["configMapRef"]["name"]])
            settings = {n for n in names if is_optiinfra_setting_name(n)}
            unknown = sorted(settings - known)
            assert not unknown, f"{owner}/{container['name']}: not settings: {unknown}"
            seen |= settings
    assert {"OPTIINFRA_DATABASE_URL", "TEMPORAL_ADDRESS", "TEMPORAL_NAMESPACE", "OPTIINFRA_PROFILE"} <= seen


@pytest.mark.parametrize("name", [f"overlays/{o}" for o in OVERLAYS])
def test_secrets_come_from_existing_secrets_only(name: str) -> None:
    resources = rendered(name)
    assert not [r for r in resources if r["kind"] == "Secret"], "the overlays must not carry Secrets"
    for owner, spec in pod_specs(resources):
        for container in containers(spec):
            for entry in container.get("env", []):
                if any(
                    word in entry["name"]
                    for word in ("PASSWORD", "TOKEN", "API_KEY", "_KEY", "DATABASE_URL", "CLICKHOUSE_URL")
                ):
                    if entry["name"].endswith("_PATH"):
                        continue
                    assert "secretKeyRef" in entry.get("valueFrom", {}), (
                        f"{owner}: {entry['name']} is a literal"
                    )


@pytest.mark.parametrize("name", [f"overlays/{o}" for o in OVERLAYS])
def test_images_pinned_and_commands_exist(name: str) -> None:
    for owner, spec in pod_specs(rendered(name)):
        for container in containers(spec):
            image = container["image"]
            repository, _, tag = image.rpartition(":")
            assert repository and tag and tag != "latest" and "/" not in tag, (
                f"{owner}: {image} is not pinned"
            )
            assert container["args"][0] in cli_commands(), f"{owner}: `optiinfra {container['args'][0]}`"
            security = container["securityContext"]
            assert (
                security["allowPrivilegeEscalation"] is False and security["readOnlyRootFilesystem"] is True
            )
        assert spec["securityContext"]["runAsNonRoot"] is True


@pytest.mark.parametrize("name", [f"overlays/{o}" for o in OVERLAYS])
def test_probes_budgets_policies_and_migration_job(name: str) -> None:
    resources = rendered(name)
    by_kind: dict[str, dict[str, dict[str, Any]]] = {}
    for resource in resources:
        by_kind.setdefault(resource["kind"], {})[resource["metadata"]["name"]] = resource
    api = by_kind["Deployment"]["optiinfra-api"]["spec"]["template"]["spec"]["containers"][0]
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert api[probe]["httpGet"]["path"] == "/healthz", probe
    worker = by_kind["Deployment"]["optiinfra-worker"]["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "metrics", "containerPort": WORKER_METRICS_PORT, "protocol": "TCP"} in worker["ports"]
    address = {e["name"]: e.get("value") for e in worker["env"]}["OPTIINFRA_WORKER_METRICS_ADDRESS"]
    assert address == f"0.0.0.0:{WORKER_METRICS_PORT}"
    for probe in ("livenessProbe", "startupProbe"):
        assert worker[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}, probe
    metrics = by_kind["Service"]["optiinfra-worker-metrics"]["spec"]
    assert metrics["clusterIP"] == "None"
    assert metrics["ports"] == [
        {"name": "metrics", "port": WORKER_METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"}
    ]
    assert set(by_kind["PodDisruptionBudget"]) == {"optiinfra-api", "optiinfra-worker"}
    assert "optiinfra-default-deny" in by_kind["NetworkPolicy"]
    job = by_kind["Job"]["optiinfra-migrate"]["spec"]["template"]["spec"]
    assert [c["args"] for c in containers(job)] == [["setup-temporal"], ["migrate"]]
    for resource in resources:
        if resource["kind"] in {"Deployment", "Job", "PodDisruptionBudget", "Service", "ConfigMap"}:
            assert resource["metadata"]["namespace"] in {"optiinfra", "optiinfra-dev"}


@pytest.mark.parametrize("name", [f"overlays/{o}" for o in OVERLAYS])
def test_network_policies_let_in_every_container_port(name: str) -> None:
    """Default deny: each port a container declares (the API's 8000, the worker's metrics) needs an ingress
    rule of a policy selecting its pods."""
    resources = rendered(name)
    policies = [r["spec"] for r in resources if r["kind"] == "NetworkPolicy"]
    checked = 0
    for deployment in (r for r in resources if r["kind"] == "Deployment"):
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        allowed = {
            port["port"]
            for policy in policies
            if selects(policy["podSelector"].get("matchLabels", {}), labels)
            for rule in policy.get("ingress", [])
            for port in rule.get("ports", [])
        }
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            for port in container.get("ports", []):
                assert port["containerPort"] in allowed or port["name"] in allowed, (
                    f"{deployment['metadata']['name']}: port {port['containerPort']} is closed"
                )
                checked += 1
    assert checked >= 2


def test_production_overlays_connect_to_temporal_cloud_securely() -> None:
    def env_of(name: str) -> dict[str, dict[str, Any]]:
        deployment = next(
            r
            for r in rendered(name)
            if r["metadata"]["name"] == "optiinfra-worker" and r["kind"] == "Deployment"
        )
        return {e["name"]: e for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}

    mtls = env_of("overlays/production")
    assert mtls["OPTIINFRA_TEMPORAL_TLS_CERT_PATH"]["value"].startswith("/etc/optiinfra/temporal-tls/")
    assert mtls["OPTIINFRA_TEMPORAL_TLS_KEY_PATH"]["value"].startswith("/etc/optiinfra/temporal-tls/")
    api_key = env_of("overlays/production-api-key")
    assert (
        api_key["OPTIINFRA_TEMPORAL_API_KEY"]["valueFrom"]["secretKeyRef"]["name"]
        == "optiinfra-temporal-api-key"
    )
    worker_sa = next(
        r
        for r in rendered("overlays/production")
        if r["kind"] == "ServiceAccount" and r["metadata"]["name"] == "optiinfra-worker"
    )
    assert "eks.amazonaws.com/role-arn" in worker_sa["metadata"]["annotations"]


def granted(resources: list[dict[str, Any]]) -> set[code_scan.Permission]:
    roles = [
        r
        for r in resources
        if r["kind"] == "ClusterRole" and r["metadata"]["name"] == "optiinfra-workload-operator"
    ]
    assert len(roles) == 1
    return {
        code_scan.Permission(group, resource, verb)
        for rule in roles[0]["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


@pytest.mark.parametrize("name", [f"overlays/{o}" for o in OVERLAYS])
def test_rbac_is_exactly_what_the_kubernetes_adapter_calls(name: str) -> None:
    called = kube_calls()
    assert called, "found no Kubernetes client call: the scan is broken"
    rules = granted(rendered(name))
    missing = {p: sorted(called[p]) for p in set(called) - rules}
    extra = rules - set(called)
    assert not missing, f"the code calls, the ClusterRole lacks: {missing}"
    assert not extra, f"the ClusterRole grants what no code calls: {sorted(extra)}"
    assert all("*" not in (p.group + p.resource + p.verb) for p in rules)


def test_the_scan_reads_each_client_call_it_should() -> None:
    """Spot checks of the derivation against call sites read by hand."""
    called = kube_calls()
    assert any(
        "read_namespaced_deployment_scale" in site
        for site in called[code_scan.Permission("apps", "deployments/scale", "get")]
    )
    assert any(
        "replace_namespaced_horizontal_pod_autoscaler" in site
        for site in called[code_scan.Permission("autoscaling", "horizontalpodautoscalers", "update")]
    )
    assert any("list_namespaced_pod" in site for site in called[code_scan.Permission("", "pods", "list")])


def test_workload_namespace_binding_grants_the_role_to_the_worker() -> None:
    binding = rendered("workload-namespace")[0]
    assert binding["kind"] == "RoleBinding"
    assert binding["roleRef"] == {
        "apiGroup": "rbac.authorization.k8s.io",
        "kind": "ClusterRole",
        "name": "optiinfra-workload-operator",
    }
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "optiinfra-worker", "namespace": "optiinfra"}
    ]
