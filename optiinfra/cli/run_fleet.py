"""Where `optiinfra run` optimizes the fleet: a running `optiinfra up` if there is one, otherwise a
throwaway stack it starts, and stops once every workload has settled."""

from dataclasses import dataclass
from typing import TYPE_CHECKING

from optiinfra.cli.run_once import FleetProgress, WorkloadRun, optimize_fleet

if TYPE_CHECKING:
    from optiinfra.settings import Settings


@dataclass(frozen=True)
class FleetRun:
    runs: list[WorkloadRun]
    api_url: str
    persistent: bool
    """The run used a running `optiinfra up`, whose API still answers at `api_url`."""


async def run_fleet(
    settings: "Settings", *, timeout_s: float, progress: FleetProgress, throwaway: bool = False
) -> FleetRun:
    """One joint optimization of every workload. `throwaway`: on a stack of its own even when one is up
    (the demo as a first run sees it)."""
    from optiinfra.embedded.stack_file import read_stack_info

    stack_info = None if throwaway else read_stack_info(settings.state_dir)
    if stack_info is not None:
        from optiinfra.embedded.token import resolve_api_token

        progress.stage(f"Using the running `optiinfra up` at {stack_info.api_url}")
        return await _on_api(stack_info.api_url, resolve_api_token(settings), timeout_s, progress, True)

    from optiinfra.embedded.stack import running_stack

    async with running_stack(settings, persistent=False, on_stage=progress.stage) as stack:
        found = await _on_api(stack.api_url, stack.api_token, timeout_s, progress, False)
        progress.stage("Stopping the throwaway stack")
        return found


async def _on_api(
    api_url: str, token: str, timeout_s: float, progress: FleetProgress, persistent: bool
) -> FleetRun:
    from optiinfra.cli.api_client import ApiClient

    async with ApiClient(api_url, token) as api:
        runs = await optimize_fleet(api, timeout_s=timeout_s, progress=progress)
    return FleetRun(runs=runs, api_url=api_url, persistent=persistent)
