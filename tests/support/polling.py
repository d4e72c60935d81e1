"""Polling the engine from a test: a read (a query, a describe) that fails on the way to the server is
asked again rather than failing the test.

On a loaded machine a query can time out before a freshly started worker answers it (gRPC's "Timeout
expired", CANCELLED), or the connection can drop a frame ("h2 protocol error"): neither says anything of the
workflow under test. Reads are safe to repeat; only transient transport statuses are retried, for as long as
`timeout_s` allows, and the last error is raised once it has passed."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from temporalio.service import RPCError, RPCStatusCode

T = TypeVar("T")

TRANSIENT_STATUSES = frozenset(
    {
        RPCStatusCode.CANCELLED,  # the client's own deadline ran out ("Timeout expired")
        RPCStatusCode.DEADLINE_EXCEEDED,
        RPCStatusCode.UNAVAILABLE,
        RPCStatusCode.UNKNOWN,  # transport failures tonic cannot classify, e.g. "h2 protocol error"
    }
)
"""Statuses of a read that failed on its way to the server, not in the workflow."""
RETRY_INTERVAL_S = 0.2
DEFAULT_READ_TIMEOUT_S = 30.0


def is_transient(error: BaseException) -> bool:
    return isinstance(error, RPCError) and error.status in TRANSIENT_STATUSES


async def read_retrying(read: Callable[[], Awaitable[T]], timeout_s: float = DEFAULT_READ_TIMEOUT_S) -> T:
    """`read()`, asked again every RETRY_INTERVAL_S while it fails with a transient RPC status, until
    `timeout_s` has passed (then its last error is raised). Any other error is raised at once."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await read()
        except RPCError as error:
            if not is_transient(error) or time.monotonic() > deadline:
                raise
        await asyncio.sleep(RETRY_INTERVAL_S)
