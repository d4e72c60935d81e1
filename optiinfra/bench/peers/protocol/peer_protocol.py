"""The adapters' side of the peers' JSON-lines protocol: read one request object per line on stdin, write one
answer object per line on stdout, and turn any failure into a one-line `error` answer, never a traceback on
the protocol. It runs inside each peer's own environment (the harness puts this folder on the adapter's
path), so it imports only the standard library."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from typing import Any

Answer = Callable[[dict[str, Any]], dict[str, Any]]


def serve(answer: Answer) -> None:
    for line in sys.stdin:
        if not line.strip():
            continue
        try:
            reply = answer(json.loads(line))
        except Exception as error:  # one line back, never a traceback on the protocol
            reply = {"error": f"{type(error).__name__}: {error}"}
        sys.stdout.write(json.dumps(reply) + "\n")
        sys.stdout.flush()
