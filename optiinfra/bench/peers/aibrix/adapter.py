"""AIBrix's GPU optimizer behind the peers' JSON-lines protocol. Runs in AIBrix's own environment and imports
nothing of OptiInfra: it only translates requests into AIBrix's types and its answers back.

Requests (one JSON object per line on stdin), answers (one per line on stdout):
- {"op": "version"} -> {"aibrix": "0.8.0", "numpy": ..., "pulp": ...}
- {"op": "solve", "profiles": [{"gpu", "cost", "tputs", "indexes"}], "centroids": [{"input_tokens",
  "output_tokens", "rps"}], "total_rps": R}
  -> {"mix": {gpu: replicas}, "usd_per_hour": C}
  Profiles are AIBrix's `GPUProfile`: `cost` in $ per replica-hour, `tputs[i][j]` the requests/s one replica
  sustains within the objective for output tokens `indexes[0][i]` and input tokens `indexes[1][j]`.
  Centroids are the workload's request shapes with their rates, placed as AIBrix's load monitor places its
  clusters (log2 of output and input tokens); `total_rps` is the rate to serve.

Only `aibrix.gpu_optimizer.optimizer` and its load monitor's helpers are imported (numpy and pulp): the
monitor's clustering and web app need Redis and Kubernetes and are not the decision."""

from __future__ import annotations

import logging
import math
import sys
from importlib.metadata import version
from typing import Any

from peer_protocol import serve

logging.basicConfig(stream=sys.stderr, level=logging.WARNING)
logging.getLogger("aibrix").setLevel(logging.ERROR)

import numpy as np  # noqa: E402
from aibrix.gpu_optimizer.load_monitor.helpers import Centeroid, DataPoint  # noqa: E402
from aibrix.gpu_optimizer.optimizer import GPUProfile, Optimizer  # noqa: E402

WHOLE_REPLICAS = 1
"""AIBrix's `gpu_fraction`: 1 makes its integer program count whole replicas at their hourly cost."""


def _centroid(input_tokens: float, output_tokens: float, rps: float) -> Centeroid:
    centroid = Centeroid()
    centroid.add(DataPoint(ndarray=np.array([math.log2(output_tokens), math.log2(input_tokens), 0.0])))
    centroid.span = 1.0 / rps  # its rate is size / span
    return centroid


def solve(request: dict[str, Any]) -> dict[str, Any]:
    profiles = [
        GPUProfile(gpu=p["gpu"], cost=float(p["cost"]), tputs=p["tputs"], indexes=p["indexes"])
        for p in request["profiles"]
    ]
    total = float(request["total_rps"])
    if total <= 0:
        return {"mix": {p.gpu: 0 for p in profiles}, "usd_per_hour": 0.0}
    shapes = [c for c in request["centroids"] if c["rps"] > 0]
    centroids = [_centroid(c["input_tokens"], c["output_tokens"], c["rps"]) for c in shapes]
    optimizer = Optimizer(WHOLE_REPLICAS, profiles)
    if not optimizer.set_workload_distribution(centroids, total):
        return {"error": "AIBrix refused the workload distribution"}
    found = optimizer.run()
    if found is None:
        return {"error": "AIBrix's solver found no optimal mix"}
    cost = float(found.pop("cost"))
    return {"mix": {gpu: int(count) for gpu, count in found.items()}, "usd_per_hour": cost}


def answer(request: dict[str, Any]) -> dict[str, Any]:
    op = request.get("op")
    if op == "version":
        return {name: version(name) for name in ("aibrix", "numpy", "pulp")}
    if op == "solve":
        return solve(request)
    return {"error": f"unknown op {op!r}"}


def main() -> None:
    serve(answer)


if __name__ == "__main__":
    main()
