"""Shared helpers of the deploy tests: paths, the settings' environment names, tools that must exist."""

from __future__ import annotations

import re
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import AliasChoices

from optiinfra.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HERE = Path(__file__).resolve().parent
KUBERNETES_VERSION = "1.32"
OVERLAYS = ("dev", "production", "production-api-key")


def require_tool(name: str) -> str:
    """The tool's path; a missing tool FAILS the test (never a skip)."""
    found = shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: the deploy checks need it")
    return found


@cache
def settings_env_names() -> frozenset[str]:
    """Every environment variable Settings reads: OPTIINFRA_<FIELD>, or the field's validation aliases."""
    prefix = Settings.model_config.get("env_prefix", "")
    names: set[str] = set()
    for field_name, field in Settings.model_fields.items():
        alias = field.validation_alias
        if isinstance(alias, AliasChoices):
            names.update(choice.upper() for choice in alias.choices if isinstance(choice, str))
        elif isinstance(alias, str):
            names.add(alias.upper())
        else:
            names.add(f"{prefix}{field_name}".upper())
    return frozenset(names)


def is_optiinfra_setting_name(name: str) -> bool:
    """Names in OptiInfra's namespaces: every one the deploy files set must be a real setting."""
    return name.upper().startswith(("OPTIINFRA_", "TEMPORAL_"))


@cache
def cli_commands() -> frozenset[str]:
    """The top-level commands `optiinfra --help` lists."""
    optiinfra = ROOT / ".venv" / "bin" / "optiinfra"
    if not optiinfra.exists():
        pytest.fail(f"{optiinfra} is missing: run `make` (uv sync) first")
    shown = subprocess.run(
        [str(optiinfra), "--help"],
        capture_output=True,
        text=True,
        check=True,
        env={"COLUMNS": "200", "TERM": "dumb", "NO_COLOR": "1", "PATH": "/usr/bin:/bin"},
    ).stdout
    commands_panel = shown.split("Commands", 1)[1]
    return frozenset(re.findall(r"^[│|]\s+([a-z][a-z0-9-]*)\s", commands_panel, flags=re.MULTILINE))


def load_yaml_documents(text: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(text) if doc]


def render_overlay(path: Path) -> list[dict[str, Any]]:
    kubectl = require_tool("kubectl")
    rendered = subprocess.run(
        [kubectl, "kustomize", str(path)], capture_output=True, text=True, check=False, timeout=120
    )
    assert rendered.returncode == 0, f"kubectl kustomize {path} failed:\n{rendered.stderr}"
    return load_yaml_documents(rendered.stdout)
