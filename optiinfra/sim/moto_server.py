"""A moto server in a background thread: the embedded twin of EC2, Auto Scaling and CloudWatch.

Clients reach it over real HTTP through `endpoint_url`, exactly as they would reach AWS, so the
adapter under test is the one that runs in production. Moto keeps its state per process: every server
started here (and any in-process `mock_aws`) shares the same backends."""

from __future__ import annotations

import logging
import urllib.request
from types import TracebackType
from typing import TYPE_CHECKING

from optiinfra.extras import TWIN_CLOUD

if TYPE_CHECKING:
    from moto.server import ThreadedMotoServer

RESET_PATH = "/moto-api/reset"


class RunningMotoServer:
    """A started server; `stop()` (or leaving the `with` block) shuts it down."""

    def __init__(self, server: ThreadedMotoServer, endpoint_url: str) -> None:
        self._server: ThreadedMotoServer | None = server
        self.endpoint_url = endpoint_url

    def reset(self) -> None:
        reset_moto(self.endpoint_url)

    def stop(self) -> None:
        """Idempotent, so a fixture's finaliser and an explicit stop do not clash."""
        server, self._server = self._server, None
        if server is not None:
            server.stop()

    def __enter__(self) -> RunningMotoServer:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.stop()


def start_moto_server(host: str = "127.0.0.1", port: int = 0) -> RunningMotoServer:
    """Port 0 lets the OS pick a free port at bind time (no probe-then-bind race). moto belongs to the
    `embedded` extra: imported here, so that a production install without it can still import this module
    (the embedded stack does) and gets one line saying what is missing when it asks for the twin cloud."""
    moto_server = TWIN_CLOUD.load()
    from optiinfra.sim.autoscaling_cooldown import install_default_cooldown_updates
    from optiinfra.sim.autoscaling_spot import install_mixed_instance_purchases
    from optiinfra.sim.reserved_market import install_reserved_market

    _quiet_request_log()
    install_reserved_market()
    install_default_cooldown_updates()
    install_mixed_instance_purchases()
    server: ThreadedMotoServer = moto_server.ThreadedMotoServer(ip_address=host, port=port, verbose=False)
    server.start()
    bound_host, bound_port = server.get_host_and_port()
    return RunningMotoServer(server, f"http://{bound_host}:{bound_port}")


def reset_moto(endpoint_url: str) -> None:
    """Forget every resource and datapoint (moto's own reset API), e.g. between tests."""
    request = urllib.request.Request(f"{endpoint_url}{RESET_PATH}", data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        response.read()


def _quiet_request_log() -> None:
    """Werkzeug logs every request at INFO to stderr unless its logger was configured; a demo
    seeding thousands of datapoints must not flood the console."""
    werkzeug_logger = logging.getLogger("werkzeug")
    if werkzeug_logger.level == logging.NOTSET:
        werkzeug_logger.setLevel(logging.WARNING)
