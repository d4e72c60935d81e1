"""deploy/kubernetes: every overlay renders with `kubectl kustomize` and validates for Kubernetes 1.32
(kubernetes-validate's bundled schemas, strict), the ServiceMonitors, the PrometheusRule and KEDA's
ScaledObjects and TriggerAuthentications against their CRDs' schemas, the PrometheusRule's groups equal to
deploy/prometheus/rules/optiinfra.rules.yml's; settings are real, images pinned, secrets only by reference,
every container port open in the NetworkPolicies, the worker's RBAC exactly what the code calls; production
runs one worker Deployment per kind of work, and the optional KEDA components (rendered here in production
overlays composed in a temporary directory) scale them on the backlog of their kinds' task queues."""

from __future__ import annotations

import copy
import os
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from optiinfra.settings import Settings
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
from workflows.task_queues import WorkKind, task_queue

KUBERNETES = DEPLOY / "kubernetes"
KUSTOMIZATIONS = {f"overlays/{name}": KUBERNETES / "overlays" / name for name in OVERLAYS} | {
    "workload-namespace": KUBERNETES / "workload-namespace"
}
CUSTOM_RESOURCES = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): "monitoring.coreos.com_servicemonitors.yaml",
    ("monitoring.coreos.com/v1", "PrometheusRule"): "monitoring.coreos.com_prometheusrules.yaml",
    ("keda.sh/v1alpha1", "ScaledObject"): "keda.sh_scaledobjects.yaml",
    ("keda.sh/v1alpha1", "TriggerAuthentication"): "keda.sh_triggerauthentications.yaml",
}
RULES_FILE = DEPLOY / "prometheus" / "rules" / "optiinfra.rules.yml"
WORKER_METRICS_PORT = 9464
WORKER_KIND_LABEL = "optiinfra.io/worker-kind"
# The KEDA component of each production overlay (optional: no overlay lists it), and the kinds it scales.
KEDA_COMPONENTS = {"production": "keda-autoscaling", "production-api-key": "keda-autoscaling-api-key"}
SCALED_KINDS = frozenset({WorkKind.CLOUD, WorkKind.ANALYSIS, WorkKind.LLM, WorkKind.METRICS})
# The temporal scaler's trigger parameters (pkg/scalers/temporal_scaler.go of KEDA v2.20.2, the release of
# the vendored CRDs; `<name>FromEnv` for those it also reads from the target's environment). The CRD leaves
# trigger metadata free-form: this catches a misspelt parameter.
TEMPORAL_SCALER_PARAMETERS = frozenset(
    {
        "endpoint", "endpointFromEnv", "namespace", "namespaceFromEnv", "taskQueue", "taskQueueFromEnv",
        "targetQueueSize", "activationTargetQueueSize", "queueTypes", "buildId", "buildIdFromEnv",
        "workerDeploymentName", "workerDeploymentNameFromEnv", "workerDeploymentBuildId",
        "workerDeploymentBuildIdFromEnv", "selectAllActive", "selectUnversioned", "minConnectTimeout",
        "unsafeSsl", "tlsServerName",
    }
)  # fmt: skip


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
    """The schema of a vendored CRD (tests/deploy/schemas/), closed, for the custom resource `kind` at the
    version CUSTOM_RESOURCES names."""
    ((api_version, _), file) = next((key, f) for key, f in CUSTOM_RESOURCES.items() if key[1] == kind)
    crd = yaml.safe_load((HERE / "schemas" / file).read_text())
    assert crd["spec"]["names"]["kind"] == kind
    group, _, version_name = api_version.rpartition("/")
    assert crd["spec"]["group"] == group
    version = next(v for v in crd["spec"]["versions"] if v["name"] == version_name)
    schema = _closed(copy.deepcopy(version["schema"]["openAPIV3Schema"]))
    schema["required"] = sorted({*schema.get("required", []), "apiVersion", "kind", "metadata", "spec"})
    return schema


def validate(where: str, resource: dict[str, Any]) -> None:
    """A custom resource against its CRD's schema, anything else with kubernetes-validate (1.32, strict)."""
    key = (resource["apiVersion"], resource["kind"])
    if key in CUSTOM_RESOURCES:
        errors = list(jsonschema.Draft7Validator(crd_schema(resource["kind"])).iter_errors(resource))
        assert not errors, f"{where}: {resource['kind']}/{resource['metadata']['name']}: {errors[0].message}"
        return
    try:
        version = kubernetes_validate.validate(resource, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(p) for p in error.path)
        pytest.fail(f"{where}: {resource['kind']}/{resource['metadata']['name']}: {path}: {error.message}")
    except kubernetes_validate.SchemaNotFoundError as error:
        pytest.fail(f"{where}: {error.message}")
    assert version == KUBERNETES_VERSION


@pytest.mark.parametrize("name", sorted(KUSTOMIZATIONS))
def test_renders_and_validates_for_kubernetes_1_32(name: str) -> None:
    resources = rendered(name)
    assert resources
    for resource in resources:
        validate(name, resource)


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
    scaled: dict[str, Any] = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": "x"},
        "spec": {
            "scaleTargetRef": {"name": "x"},
            "triggers": [{"type": "temporal", "metadata": {"targetQueueSize": "5"}}],
        },
    }
    jsonschema.Draft7Validator(crd_schema("ScaledObject")).validate(scaled)
    scaled["spec"]["maxReplicas"] = 4
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(crd_schema("ScaledObject")).validate(scaled)
    del scaled["spec"]["maxReplicas"]
    scaled["spec"]["triggers"][0]["metadata"]["targetQueueSize"] = 5  # metadata values are strings
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(crd_schema("ScaledObject")).validate(scaled)
    authentication = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "TriggerAuthentication",
        "metadata": {"name": "x"},
        "spec": {"secretTargetRef": [{"parameter": "cert", "secret": "tls", "key": "tls.crt"}]},
    }
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(crd_schema("TriggerAuthentication")).validate(authentication)


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
    workers = worker_deployments(resources)
    assert workers
    for deployment in workers.values():
        (worker,) = deployment["spec"]["template"]["spec"]["containers"]
        assert {"name": "metrics", "containerPort": WORKER_METRICS_PORT, "protocol": "TCP"} in worker["ports"]
        address = {e["name"]: e.get("value") for e in worker["env"]}["OPTIINFRA_WORKER_METRICS_ADDRESS"]
        assert address == f"0.0.0.0:{WORKER_METRICS_PORT}"
        for probe in ("livenessProbe", "startupProbe"):
            assert worker[probe]["httpGet"] == {"path": "/metrics", "port": "metrics"}, probe
        assert "readinessProbe" not in worker
    metrics = by_kind["Service"]["optiinfra-worker-metrics"]["spec"]
    assert metrics["clusterIP"] == "None"
    assert metrics["ports"] == [
        {"name": "metrics", "port": WORKER_METRICS_PORT, "targetPort": "metrics", "protocol": "TCP"}
    ]
    # A budget per Deployment, each pod under exactly one (the eviction API refuses a pod under two).
    budgets = by_kind["PodDisruptionBudget"]
    assert set(budgets) == {"optiinfra-api", *workers}
    for deployment in by_kind["Deployment"].values():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        under = [n for n, b in budgets.items() if selects(b["spec"]["selector"]["matchLabels"], labels)]
        assert under == [deployment["metadata"]["name"]], f"{deployment['metadata']['name']}: under {under}"
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
    def envs_of(name: str) -> list[dict[str, dict[str, Any]]]:
        deployments = [r for r in rendered(name) if r["kind"] == "Deployment"]
        assert len(deployments) == 1 + len(WorkKind)
        return [
            {e["name"]: e for e in d["spec"]["template"]["spec"]["containers"][0].get("env", [])}
            for d in deployments
        ]

    for mtls in envs_of("overlays/production"):
        assert mtls["OPTIINFRA_TEMPORAL_TLS_CERT_PATH"]["value"].startswith("/etc/optiinfra/temporal-tls/")
        assert mtls["OPTIINFRA_TEMPORAL_TLS_KEY_PATH"]["value"].startswith("/etc/optiinfra/temporal-tls/")
    for api_key in envs_of("overlays/production-api-key"):
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


def worker_deployments(resources: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {
        r["metadata"]["name"]: r
        for r in resources
        if r["kind"] == "Deployment" and r["metadata"]["labels"]["app.kubernetes.io/component"] == "worker"
    }


def worker_env(deployment: dict[str, Any]) -> dict[str, dict[str, Any]]:
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return {e["name"]: e for e in container.get("env", [])}


def config_map(resources: list[dict[str, Any]], deployment: dict[str, Any]) -> dict[str, str]:
    """The data of the ConfigMap the Deployment's container takes its environment from."""
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    (source,) = container["envFrom"]
    name = source["configMapRef"]["name"]
    (found,) = [r for r in resources if r["kind"] == "ConfigMap" and r["metadata"]["name"] == name]
    data: dict[str, str] = found["data"]
    return data


def without_kind(deployment: dict[str, Any]) -> dict[str, Any]:
    """The pod spec without what differs between the kinds: OPTIINFRA_WORKER_KINDS, slots, resources."""
    spec = copy.deepcopy(deployment["spec"]["template"]["spec"])
    for container in spec["containers"]:
        container.pop("resources")
        container["env"] = [
            e
            for e in container["env"]
            if e["name"] != "OPTIINFRA_WORKER_KINDS"
            and not (e["name"].startswith("OPTIINFRA_WORKER_") and e["name"].endswith("_SLOTS"))
        ]
    return spec


@pytest.mark.parametrize("name", PRODUCTION)
def test_production_runs_one_worker_deployment_per_kind_of_work(name: str) -> None:
    """components/worker-per-kind: every kind of workflows/task_queues.py in exactly one Deployment
    `optiinfra-worker-<kind>` running only that kind, with the all-in-one worker's pod spec otherwise (the
    same image, security context, probes, environment, Secrets, TLS, spreading), and no all-in-one worker."""
    resources = rendered(name)
    workers = worker_deployments(resources)
    assert "optiinfra-worker" not in workers, "production runs no all-in-one worker"
    kinds = sorted(d["metadata"]["labels"][WORKER_KIND_LABEL] for d in workers.values())
    assert kinds == sorted(kind.value for kind in WorkKind), f"one Deployment per kind, found {kinds}"
    reference = without_kind(workers[f"optiinfra-worker-{WorkKind.ORCHESTRATION.value}"])
    for deployment_name, deployment in workers.items():
        kind = WorkKind(deployment["metadata"]["labels"][WORKER_KIND_LABEL])
        assert deployment_name == f"optiinfra-worker-{kind.value}"
        template = deployment["spec"]["template"]
        assert template["metadata"]["labels"][WORKER_KIND_LABEL] == kind.value
        assert deployment["spec"]["selector"]["matchLabels"][WORKER_KIND_LABEL] == kind.value
        env = worker_env(deployment)
        assert WorkKind(env["OPTIINFRA_WORKER_KINDS"]["value"]) is kind, deployment_name
        assert template["spec"]["containers"][0]["args"] == ["worker"]
        # Queue-name agnostic: each derives its queue from the one base queue of the shared ConfigMap.
        assert "OPTIINFRA_TEMPORAL_TASK_QUEUE" not in env
        assert config_map(resources, deployment)["OPTIINFRA_TEMPORAL_TASK_QUEUE"]
        assert without_kind(deployment) == reference, f"{deployment_name}: differs from the other workers"
        assert template["spec"]["containers"][0]["resources"]["requests"]["cpu"], deployment_name
        assert deployment["spec"]["replicas"] >= 1
        spread = template["spec"]["topologySpreadConstraints"]
        assert all(WORKER_KIND_LABEL in c["matchLabelKeys"] for c in spread), "each kind spreads on its own"
    cpu = {
        n: d["spec"]["template"]["spec"]["containers"][0]["resources"]["requests"]["cpu"]
        for n, d in workers.items()
    }
    assert cpu_cores(cpu["optiinfra-worker-analysis"]) == max(cpu_cores(c) for c in cpu.values())
    assert cpu_cores(cpu["optiinfra-worker-orchestration"]) < cpu_cores(cpu["optiinfra-worker-analysis"])


def cpu_cores(quantity: str) -> float:
    return float(quantity[:-1]) / 1000 if quantity.endswith("m") else float(quantity)


def test_dev_keeps_the_all_in_one_worker() -> None:
    workers = worker_deployments(rendered("overlays/dev"))
    assert list(workers) == ["optiinfra-worker"]
    deployment = workers["optiinfra-worker"]
    assert deployment["metadata"]["labels"][WORKER_KIND_LABEL] == "all-in-one"
    assert "OPTIINFRA_WORKER_KINDS" not in worker_env(deployment), "unset: every kind (`all`)"


@pytest.mark.parametrize("name", [f"overlays/{o}" for o in OVERLAYS])
def test_the_worker_metrics_service_and_policy_select_every_worker(name: str) -> None:
    resources = rendered(name)
    (service,) = [
        r for r in resources if r["kind"] == "Service" and r["metadata"]["name"] == "optiinfra-worker-metrics"
    ]
    (policy,) = [
        r for r in resources if r["kind"] == "NetworkPolicy" and r["metadata"]["name"] == "optiinfra-worker"
    ]
    monitors = [
        r for r in resources if r["kind"] == "ServiceMonitor" and r["metadata"]["name"] == "optiinfra-worker"
    ]
    for monitor in monitors:
        assert selects(monitor["spec"]["selector"]["matchLabels"], service["metadata"]["labels"])
    for deployment_name, deployment in worker_deployments(resources).items():
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selects(service["spec"]["selector"], labels), f"{deployment_name} is not scraped"
        assert selects(policy["spec"]["podSelector"]["matchLabels"], labels), deployment_name


def test_no_overlay_requires_keda() -> None:
    """KEDA is optional (components/keda-autoscaling*): the overlays apply on a cluster without its CRDs."""
    for name in OVERLAYS:
        assert not [r for r in rendered(f"overlays/{name}") if r["apiVersion"].startswith("keda.sh/")], name


def with_keda(overlay: str, where: Path) -> list[dict[str, Any]]:
    """The overlay as deploy/README.md says to enable KEDA in it: its kustomization, in `where`, with the KEDA
    component added after its others and the scaled kinds left out of `replicas:`."""
    source = KUBERNETES / "overlays" / overlay
    kustomization = yaml.safe_load((source / "kustomization.yaml").read_text(encoding="utf-8"))
    assert "patches" not in kustomization, "patch files would have to move too"
    for field in ("resources", "components"):
        entries = [source / entry for entry in kustomization.get(field, [])]
        assert all(entry.is_dir() for entry in entries), (
            f"{overlay}: only directories move by a relative path"
        )
        kustomization[field] = [os.path.relpath(entry, where) for entry in entries]
    kustomization["components"].append(
        os.path.relpath(KUBERNETES / "components" / KEDA_COMPONENTS[overlay], where)
    )
    scaled = {f"optiinfra-worker-{kind.value}" for kind in SCALED_KINDS}
    kustomization["replicas"] = [r for r in kustomization["replicas"] if r["name"] not in scaled]
    (where / "kustomization.yaml").write_text(yaml.safe_dump(kustomization), encoding="utf-8")
    return render_overlay(where)


@pytest.fixture(scope="module")
def keda_rendered(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[dict[str, Any]]]:
    return {overlay: with_keda(overlay, tmp_path_factory.mktemp(overlay)) for overlay in KEDA_COMPONENTS}


@pytest.mark.parametrize("overlay", sorted(KEDA_COMPONENTS))
def test_the_keda_components_render_and_validate(
    overlay: str, keda_rendered: dict[str, list[dict[str, Any]]]
) -> None:
    resources = keda_rendered[overlay]
    kinds = {(r["apiVersion"], r["kind"]) for r in resources}
    assert {("keda.sh/v1alpha1", "ScaledObject"), ("keda.sh/v1alpha1", "TriggerAuthentication")} <= kinds
    for resource in resources:
        validate(f"{overlay} with {KEDA_COMPONENTS[overlay]}", resource)
    # Everything but the KEDA objects and the scaled kinds' replica counts is the overlay's own.
    own = [r for r in resources if not r["apiVersion"].startswith("keda.sh/")]
    expected = copy.deepcopy(rendered(f"overlays/{overlay}"))
    for resource in expected:
        if (
            resource["kind"] == "Deployment"
            and resource["metadata"]["labels"].get(WORKER_KIND_LABEL) in SCALED_KINDS
        ):
            del resource["spec"]["replicas"]
    assert own == expected


@pytest.mark.parametrize("overlay", sorted(KEDA_COMPONENTS))
def test_scaled_objects_follow_the_task_queue_of_their_kind(
    overlay: str, keda_rendered: dict[str, list[dict[str, Any]]]
) -> None:
    resources = keda_rendered[overlay]
    workers = worker_deployments(resources)
    scaled = {r["metadata"]["name"]: r for r in resources if r["kind"] == "ScaledObject"}
    authentications = {r["metadata"]["name"]: r for r in resources if r["kind"] == "TriggerAuthentication"}
    targets = {
        WorkKind(workers[s["spec"]["scaleTargetRef"]["name"]]["metadata"]["labels"][WORKER_KIND_LABEL])
        for s in scaled.values()
    }
    # Not orchestration: its worker keeps the overlay's replicas.
    assert targets == SCALED_KINDS and len(scaled) == len(SCALED_KINDS), "one ScaledObject per scaled kind"
    for scaled_name, scaled_object in scaled.items():
        spec = scaled_object["spec"]
        target = workers[spec["scaleTargetRef"]["name"]]
        kind = WorkKind(target["metadata"]["labels"][WORKER_KIND_LABEL])
        assert scaled_object["metadata"]["namespace"] == target["metadata"]["namespace"]
        assert spec["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
        assert "replicas" not in target["spec"], f"{scaled_name}: the HPA owns the count, not `replicas:`"
        assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"]
        container_name = spec["scaleTargetRef"]["envSourceContainerName"]
        (container,) = [
            c for c in target["spec"]["template"]["spec"]["containers"] if c["name"] == container_name
        ]
        config = config_map(resources, target)
        (trigger,) = spec["triggers"]
        assert trigger["type"] == "temporal"
        metadata = trigger["metadata"]
        unknown = sorted(set(metadata) - TEMPORAL_SCALER_PARAMETERS)
        assert not unknown, f"{scaled_name}: not parameters of KEDA's temporal scaler: {unknown}"
        # The Temporal the workers use, read by KEDA from the container's environment (its ConfigMap).
        assert config[metadata["endpointFromEnv"]] == config["TEMPORAL_ADDRESS"]
        assert config[metadata["namespaceFromEnv"]] == config["TEMPORAL_NAMESPACE"]
        assert metadata["taskQueue"] == task_queue(config["OPTIINFRA_TEMPORAL_TASK_QUEUE"], kind), scaled_name
        assert metadata["queueTypes"] == "activity", "the kinds' queues carry activity tasks only"
        # A replica per slot-full of waiting activities: the kind's slots, as its worker runs them.
        env = worker_env(target)
        slots_name = f"OPTIINFRA_WORKER_{kind.value.upper()}_SLOTS"
        slots = (
            int(env[slots_name]["value"])
            if slots_name in env
            else Settings.model_fields[f"worker_{kind.value}_slots"].default
        )
        assert int(metadata["targetQueueSize"]) == slots, scaled_name
        assert int(metadata["activationTargetQueueSize"]) >= 0
        # Authenticated with the credentials the workers use: a Secret their pods reference.
        authentication = authentications[trigger["authenticationRef"]["name"]]
        used = {
            e["valueFrom"]["secretKeyRef"]["name"]
            for e in container.get("env", [])
            if "secretKeyRef" in e.get("valueFrom", {})
        } | {
            v["secret"]["secretName"]
            for v in target["spec"]["template"]["spec"].get("volumes", [])
            if "secret" in v
        }
        references = authentication["spec"]["secretTargetRef"]
        assert {r["name"] for r in references} <= used, (
            f"{overlay}: KEDA reads a Secret the workers do not use"
        )
        parameters = {r["parameter"] for r in references}
        assert parameters == ({"cert", "key"} if overlay == "production" else {"apiKey"}), parameters


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
