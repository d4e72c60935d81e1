"""The root Dockerfile: pinned bases, the lock installed as is, the portal built and served, a non-root user,
commands that exist."""

import json
import re

from tests.deploy.support import ROOT, cli_commands

DOCKERFILE = (ROOT / "Dockerfile").read_text(encoding="utf-8")
DIGEST = re.compile(r"^[\w.\-/]+:[\w.\-]+@sha256:[0-9a-f]{64}$")


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE)
    found = []
    for line in joined.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            keyword, _, rest = stripped.partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


def build_args() -> dict[str, str]:
    args = {}
    for keyword, rest in instructions():
        if keyword == "ARG" and "=" in rest:
            name, _, value = rest.partition("=")
            args[name] = value
    return args


def test_every_base_image_is_pinned_by_tag_and_digest() -> None:
    stages: set[str] = set()
    bases = []
    for keyword, rest in instructions():
        if keyword != "FROM":
            continue
        parts = rest.split()
        image = re.sub(r"\$\{(\w+)\}", lambda m: build_args()[m.group(1)], parts[0])
        if image not in stages:
            bases.append(image)
        if len(parts) == 3 and parts[1].upper() == "AS":
            stages.add(parts[2])
    assert bases, "no FROM"
    for image in bases:
        assert DIGEST.match(image), f"base image {image} is not pinned as name:tag@sha256:digest"
        assert ":latest@" not in image


def test_runs_as_a_non_root_user() -> None:
    users = [rest for keyword, rest in instructions() if keyword == "USER"]
    assert users, "no USER: the image would run as root"
    final_user = users[-1].split(":")[0]
    assert final_user not in {"root", "0"}
    last_from = max(i for i, (keyword, _) in enumerate(instructions()) if keyword == "FROM")
    assert any(keyword == "USER" for keyword, _ in instructions()[last_from:]), (
        "USER not set in the final stage"
    )


def test_installs_the_lock_without_dev_dependencies() -> None:
    runs = [rest for keyword, rest in instructions() if keyword == "RUN"]
    syncs = [run for run in runs if "uv sync" in run]
    assert syncs
    for sync in syncs:
        assert "--frozen" in sync and "--no-dev" in sync, sync
    assert any(
        rest.startswith("pyproject.toml uv.lock") for keyword, rest in instructions() if keyword == "COPY"
    )


def test_builds_the_portal_and_points_the_api_at_it() -> None:
    runs = [rest for keyword, rest in instructions() if keyword == "RUN"]
    assert "npm ci --no-audit --no-fund --loglevel=error" in runs
    assert "npm run build" in runs
    copies = [rest for keyword, rest in instructions() if keyword == "COPY" and "--from=portal" in rest]
    assert len(copies) == 1
    destination = copies[0].split()[-1]
    env = " ".join(rest for keyword, rest in instructions() if keyword == "ENV")
    assert f"OPTIINFRA_PORTAL_DIR={destination}" in env


def test_entrypoint_and_command_are_optiinfra_commands() -> None:
    entrypoint = json.loads(next(rest for keyword, rest in instructions() if keyword == "ENTRYPOINT"))
    command = json.loads(next(rest for keyword, rest in instructions() if keyword == "CMD"))
    assert entrypoint == ["optiinfra"]
    assert command[0] in cli_commands(), f"`optiinfra {command[0]}` is not a command"
    assert {"api", "worker", "migrate", "setup-temporal"} <= cli_commands()


def test_dockerignore_keeps_secrets_and_local_environments_out() -> None:
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    for entry in (".venv", ".env", ".git", "portal/node_modules", ".optiinfra"):
        assert entry in ignored
