"""NVIDIA Dynamo's planner behind the peers' JSON-lines protocol, through the replay adapter that Dynamo's
own trace replay uses. Runs in Dynamo's environment and imports nothing of OptiInfra: it only translates.

Requests (one JSON object per line on stdin), answers (one per line on stdout):
- {"op": "version"} -> {"ai-dynamo": "1.6.1", ...}
- {"op": "start", "planner": {...}, "engine": {...}} -> {"first_tick_s": T}
  A new planner (any earlier one is closed). `planner` holds what a user would set: `ttft_ms`, `itl_ms`,
  `interval_s` (its adjustment interval), `predictor` (constant, arima, kalman, prophet), `min_replicas`,
  `max_step` (replicas added or removed per adjustment at most), `model`, `system` (the performance
  database's GPU), `tp`. `engine` is the worker's capabilities: `num_gpu`, `max_num_batched_tokens`,
  `max_num_seqs`, `max_kv_tokens`, `context_length`, `block_size`. Mode is aggregated, the target SLA, the
  GPU budget unlimited (the bench bills GPU-hours instead).
- {"op": "tick", "active": N, "duration_s": D, "num_req": R, "avg_isl": I, "avg_osl": O}
  -> {"target": replicas or null (no change), "next_tick_s": T, "reason": text or null}
  What the planner's frontend metrics would show over the interval that ended: requests that arrived, their
  mean input and output lengths, and the workers serving now.
- {"op": "finish"} -> {"scaling_events": n}
"""

from __future__ import annotations

import os
from importlib.metadata import version
from typing import Any

from peer_protocol import serve

os.environ.setdefault("DYN_LOG", "error")

from dynamo.planner.config.planner_config import PlannerConfig
from dynamo.planner.core.types import EngineCapabilities, WorkerCapabilities
from dynamo.planner.offline.replay_adapter import create_replay_planner_adapter

MS = 1000.0


class Planner:
    """One replay of Dynamo's planner."""

    def __init__(self, planner: dict[str, Any], engine: dict[str, Any]) -> None:
        interval = int(planner["interval_s"])
        config = PlannerConfig.model_validate(
            {
                "environment": "virtual",
                "backend": "vllm",
                "mode": "agg",
                "optimization_target": "sla",
                "ttft_ms": float(planner["ttft_ms"]),
                "itl_ms": float(planner["itl_ms"]),
                "throughput_adjustment_interval_seconds": interval,
                # One tick per adjustment: the load-based scaler is off in SLA mode, and its interval only
                # sets how often the replay ticks.
                "load_adjustment_interval_seconds": interval,
                "load_predictor": planner["predictor"],
                "min_endpoint": int(planner["min_replicas"]),
                "max_gpu_budget": -1,
                "max_throughput_scaling_replicas": int(planner["max_step"]),
                "pre_deployment_sweeping_mode": "none",
                "model_name": planner["model"],
                "report_interval_hours": None,
                "live_dashboard_port": 0,
                "control_api_port": 0,
                "ais_perf_model": {
                    "roles": {
                        "aggregated": {
                            "model": planner["model"],
                            "system": planner["system"],
                            "backend": "vllm",
                            "worker_type": "aggregated",
                            "tp": int(planner["tp"]),
                        }
                    }
                },
            }
        )
        capabilities = WorkerCapabilities(
            decode=EngineCapabilities(
                num_gpu=int(engine["num_gpu"]),
                max_num_batched_tokens=int(engine["max_num_batched_tokens"]),
                max_num_seqs=int(engine["max_num_seqs"]),
                max_kv_tokens=int(engine["max_kv_tokens"]),
                context_length=int(engine["context_length"]),
                kv_cache_block_size=int(engine["block_size"]),
            )
        )
        self.adapter = create_replay_planner_adapter(config, capabilities, capture_details=True)
        self.first_tick_s = self.adapter.initial_tick_ms() / MS
        self.ordinal = 0

    def tick(self, request: dict[str, Any]) -> dict[str, Any]:
        active = int(request["active"])
        decision = self.adapter.on_tick(
            {
                "tick_ordinal": self.ordinal,
                "active_prefill_count": 0,
                "active_decode_count": active,
                "active_prefill_ids": [],
                "active_decode_ids": list(range(active)),
                "traffic": {
                    "duration_s": float(request["duration_s"]),
                    "num_req": float(request["num_req"]),
                    "avg_isl": float(request["avg_isl"]),
                    "avg_osl": float(request["avg_osl"]),
                },
            }
        )
        self.ordinal += 1
        ticks = getattr(self.adapter, "_ticks", None) or [{}]
        reason = ((ticks[-1].get("effects") or {}).get("diagnostics") or {}).get("throughput_decision_reason")
        return {
            "target": decision["target_decode"],
            "next_tick_s": decision["next_tick_ms"] / MS,
            "reason": None if reason is None else str(reason),
        }

    def finish(self) -> dict[str, Any]:
        details = self.adapter.finalize()
        self.adapter.close()
        return {"scaling_events": len(details.scaling_events)}


class Session:
    def __init__(self) -> None:
        self.planner: Planner | None = None

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        op = request.get("op")
        if op == "version":
            return {name: version(name) for name in ("ai-dynamo", "ai-dynamo-runtime", "aiconfigurator-core")}
        if op == "start":
            if self.planner is not None:
                self.planner.finish()
            self.planner = Planner(request["planner"], request["engine"])
            return {"first_tick_s": self.planner.first_tick_s}
        if self.planner is None:
            return {"error": f"{op!r} before a planner was started"}
        if op == "tick":
            return self.planner.tick(request)
        if op == "finish":
            finished = self.planner.finish()
            self.planner = None
            return finished
        return {"error": f"unknown op {op!r}"}


def main() -> None:
    serve(Session().answer)


if __name__ == "__main__":
    main()
