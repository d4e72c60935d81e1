"""Where a running `optiinfra up` can be found by the CLI commands of other terminals."""

import json
import os
from pathlib import Path

from pydantic import BaseModel

STACK_FILE = "stack.json"


class StackInfo(BaseModel):
    api_url: str
    temporal_address: str
    temporal_ui_url: str | None
    cloud_endpoint_url: str | None
    pid: int


def write_stack_info(state_dir: Path, info: StackInfo) -> None:
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / STACK_FILE).write_text(info.model_dump_json(indent=2))


def read_stack_info(state_dir: Path) -> StackInfo | None:
    """The stack recorded in `state_dir`, if its process still lives."""
    path = state_dir / STACK_FILE
    if not path.exists():
        return None
    info = StackInfo.model_validate(json.loads(path.read_text()))
    try:
        os.kill(info.pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        pass
    return info


def clear_stack_info(state_dir: Path) -> None:
    (state_dir / STACK_FILE).unlink(missing_ok=True)
