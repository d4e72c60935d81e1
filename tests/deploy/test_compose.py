"""deploy/compose.yaml: valid against the Compose Specification's JSON schema (vendored: compose-spec.json),
real OptiInfra settings, pinned images, one-shot setup before the API and the workers, one worker service per
kind of work, health checks."""

import json
import re
from typing import Any

import jsonschema
import yaml

from tests.deploy.support import (
    DEPLOY,
    HERE,
    cli_commands,
    is_optiinfra_setting_name,
    settings_env_names,
)
from workflows.task_queues import WorkKind

COMPOSE: dict[str, Any] = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
WORKERS = {f"worker-{kind.value}": kind for kind in WorkKind}
OPTIINFRA_SERVICES = ("migrate", "setup-temporal", "api", *WORKERS)
ONE_SHOTS = ("migrate", "setup-temporal")
INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[-?]([^}]*))?\}")
PINNED = re.compile(r"^[\w.\-/]+:(?!latest\b)[\w.\-]+(@sha256:[0-9a-f]{64})?$")


def env_file(name: str) -> dict[str, str]:
    values = {}
    for line in (DEPLOY / name).read_text(encoding="utf-8").splitlines():
        line = line.strip().lstrip("#").strip()
        if re.match(r"^[A-Z_][A-Z0-9_]*=", line):
            key, _, value = line.partition("=")
            values[key] = value
    return values


def interpolate(text: str) -> str:
    """Compose's ${VAR}, ${VAR:-default} and ${VAR:?error} with the values of .env.example."""
    example = env_file(".env.example")

    def value(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        assert name in example or default is not None, f"${{{name}}} has no value in .env.example"
        return example.get(name, default or "")

    return INTERPOLATION.sub(value, text)


def environment_names(service: dict[str, Any]) -> set[str]:
    environment = service.get("environment", {})
    if isinstance(environment, dict):
        return set(environment)
    return {entry.split("=", 1)[0] for entry in environment}


def test_validates_against_the_compose_spec_schema() -> None:
    schema = json.loads((HERE / "schemas" / "compose-spec.json").read_text(encoding="utf-8"))
    jsonschema.Draft7Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft7Validator(schema).iter_errors(COMPOSE), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_rejects_a_broken_file() -> None:
    """The vendored schema is strict enough to catch a typo (guards against an empty or permissive schema)."""
    schema = json.loads((HERE / "schemas" / "compose-spec.json").read_text(encoding="utf-8"))
    broken = {
        "services": {"api": {"image": "x:1", "depends_on": {"db": {"condition": "done"}}, "helthcheck": {}}}
    }
    assert len(list(jsonschema.Draft7Validator(schema).iter_errors(broken))) >= 2


def test_every_optiinfra_variable_is_a_real_setting() -> None:
    known = settings_env_names()
    set_somewhere = set()
    for name in OPTIINFRA_SERVICES:
        set_somewhere |= {n for n in environment_names(SERVICES[name]) if is_optiinfra_setting_name(n)}
    set_somewhere |= {n for n in env_file("worker.env.example") if is_optiinfra_setting_name(n)}
    assert set_somewhere, "no OptiInfra setting found"
    unknown = sorted(set_somewhere - known)
    assert not unknown, f"not settings of optiinfra/settings.py: {unknown}"
    for name in OPTIINFRA_SERVICES:
        assert {"OPTIINFRA_DATABASE_URL", "TEMPORAL_ADDRESS", "OPTIINFRA_PROFILE"} <= environment_names(
            SERVICES[name]
        )


def test_every_image_is_pinned() -> None:
    for name, service in SERVICES.items():
        assert "image" in service, f"{name} has no image"
        image = interpolate(service["image"])
        assert PINNED.match(image), f"{name}: {image} is not pinned to a version"
        if "build" not in service:
            assert "@sha256:" in image, f"{name}: third-party image {image} is not pinned by digest"


def test_optiinfra_services_run_existing_commands_of_the_built_image() -> None:
    for name in OPTIINFRA_SERVICES:
        service = SERVICES[name]
        assert service["build"]["dockerfile"] == "Dockerfile"
        assert service["command"][0] in cli_commands(), (
            f"{name}: `optiinfra {service['command'][0]}` is unknown"
        )
    assert SERVICES["migrate"]["command"] == ["migrate"]
    assert SERVICES["setup-temporal"]["command"] == ["setup-temporal"]
    assert SERVICES["api"]["command"] == ["api"]
    for name in WORKERS:
        assert SERVICES[name]["command"] == ["worker"], name


def test_one_worker_service_per_kind_of_work() -> None:
    """Each kind (workflows/task_queues.py) runs in exactly one service, named after it, with the same
    settings as the others but OPTIINFRA_WORKER_KINDS; together they poll every task queue."""
    workers = {name: s for name, s in SERVICES.items() if s.get("command") == ["worker"]}
    assert set(workers) == set(WORKERS)
    served = []
    for name, kind in WORKERS.items():
        environment = dict(workers[name]["environment"])
        assert WorkKind(environment.pop("OPTIINFRA_WORKER_KINDS")) is kind, name
        assert "OPTIINFRA_TEMPORAL_TASK_QUEUE" in environment, f"{name}: the base queue, as every process"
        served.append(kind)
        others = {k: v for k, v in workers[name].items() if k != "environment"}
        assert others == {k: v for k, v in workers["worker-orchestration"].items() if k != "environment"}
        reference = dict(workers["worker-orchestration"]["environment"])
        reference.pop("OPTIINFRA_WORKER_KINDS")
        assert environment == reference, f"{name}: settings differ from the other workers'"
    assert sorted(served) == sorted(WorkKind)


def test_api_and_workers_wait_for_the_one_shot_setup() -> None:
    for name in ("api", *WORKERS):
        depends = SERVICES[name]["depends_on"]
        for one_shot in ONE_SHOTS:
            assert depends[one_shot]["condition"] == "service_completed_successfully", (name, one_shot)
    for one_shot in ONE_SHOTS:
        assert SERVICES[one_shot]["restart"] == "no"
    assert SERVICES["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert SERVICES["setup-temporal"]["depends_on"]["temporal"]["condition"] == "service_healthy"


def test_the_full_stack_is_there_with_health_checks_and_volumes() -> None:
    expected = {
        "postgres", "temporal-postgres", "temporal", "temporal-ui", "clickhouse", "qdrant", "prometheus",
        "grafana", "migrate", "setup-temporal", "api", *WORKERS,
    }  # fmt: skip
    assert expected <= set(SERVICES)
    assert "worker" not in SERVICES, "the all-in-one worker service is replaced by one per kind"
    for name in (
        "postgres",
        "temporal-postgres",
        "temporal",
        "clickhouse",
        "qdrant",
        "prometheus",
        "grafana",
        "api",
        *WORKERS,
    ):
        assert SERVICES[name]["healthcheck"]["test"], name
    declared = set(COMPOSE["volumes"])
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if not source.startswith("."):
                assert source in declared, f"{name}: volume {source} is not declared"
            else:
                assert (DEPLOY / source).exists(), f"{name}: {source} does not exist"
    assert SERVICES["api"]["environment"]["OPTIINFRA_PORTAL_DIR"] == "/opt/optiinfra/portal"


def test_no_secret_is_written_into_the_compose_file() -> None:
    """Passwords and tokens come from deploy/.env (required variables), never literals."""
    for name, service in SERVICES.items():
        environment = service.get("environment", {})
        if not isinstance(environment, dict):
            continue
        for key, value in environment.items():
            if re.search(r"PASSWORD|PWD|TOKEN|API_KEY|SECRET", key):
                assert isinstance(value, str) and "${" in value, f"{name}.{key} is a literal secret"
    example = env_file(".env.example")
    for key, value in example.items():
        if re.search(r"PASSWORD|TOKEN|API_KEY", key):
            assert value.startswith("change-me"), f".env.example: {key} must be a placeholder"
