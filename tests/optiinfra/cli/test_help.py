"""One command line: every command and every option says what it is for, the closed choices the CLI spells
itself are the domain's, and `--help` loads none of the heavy modules (they load when a command runs)."""

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from typer.main import get_command

from optiinfra.access.principal import Role
from optiinfra.application.request_log import LogFormat
from optiinfra.capacity.truth import TruthSource
from optiinfra.cli.choices import LogFormatChoice, RoleChoice, TruthChoice
from optiinfra.cli.main import app

HEAVY = (
    "temporalio",
    "sqlalchemy",
    "httpx",
    "fastapi",
    "chdb",
    "boto3",
    "numpy",
    "api",
    "workflows",
    "workers",
    "optiinfra.settings",
    "optiinfra.embedded",
    "optiinfra.store",
    "optiinfra.sim",
    "optiinfra.capacity",
    "optiinfra.bench.twin",
    "optiinfra.bench.plan",
    "optiinfra.bench.scaling",
    "optiinfra.bench.kvtier",
    "optiinfra.cli.api_client",
)
HELP_PAGES = (["--help"], ["bench", "twin", "--help"], ["recommendations", "list", "--help"], ["keys"])


def _commands(command: Any, path: str = "optiinfra") -> Iterator[tuple[str, Any]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, f"{path} {name}")


def test_every_command_and_option_has_help() -> None:
    found = dict(_commands(get_command(app)))
    assert {"optiinfra optimize", "optiinfra recommendations show", "optiinfra bench cli-startup"} <= set(
        found
    )
    assert {
        "optiinfra bench twin",
        "optiinfra bench plan",
        "optiinfra bench scaling",
        "optiinfra bench kvtier",
    } <= set(found)
    missing = [path for path, command in found.items() if not (command.help or "").strip()]
    missing += [
        f"{path} {param.name}"
        for path, command in found.items()
        for param in command.params
        if param.name != "help" and not (getattr(param, "help", None) or "").strip()
    ]
    assert missing == []


def test_the_cli_spells_the_domains_choices() -> None:
    for mine, theirs in ((RoleChoice, Role), (LogFormatChoice, LogFormat), (TruthChoice, TruthSource)):
        assert [choice.value for choice in mine] == [choice.value for choice in theirs]


def test_help_loads_no_heavy_module() -> None:
    script = (
        "import json, sys\n"
        "from typer.main import get_command\n"
        "from optiinfra.cli.main import app\n"
        f"for args in {list(HELP_PAGES)!r}:\n"
        "    try:\n"
        "        get_command(app).main(args, prog_name='optiinfra')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print(json.dumps(sorted(sys.modules)), file=sys.stderr)\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert "optiinfra bench twin" in ran.stdout and "--trace" in ran.stdout  # the pages were rendered
    loaded = json.loads(ran.stderr.strip().splitlines()[-1])
    heavy = sorted(name for name in loaded if any(name == h or name.startswith(f"{h}.") for h in HEAVY))
    assert heavy == []
