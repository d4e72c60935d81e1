"""`aisimulate_core.sdk` as Dynamo's planner uses it: a configuration record and a forward-pass model that
estimates one engine iteration's time in milliseconds from its scheduled requests (prefill tokens, decode
requests, their KV tokens), here by `aiconfigurator_core`'s step model on the configured system, model,
backend and tensor parallelism. It is ready at once (the database is measured, not learned), and it does not
learn from observed iterations: `tune_with_fpms` only counts them."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

SOURCE = "aiconfigurator_core (NVIDIA silicon-measured database), behind OptiInfra's stand-in aisimulate_core"


@dataclass(frozen=True)
class ForwardPassPerfModelConfig:
    """The role's configuration; Dynamo builds it, copies it with `asdict` and reads `estimator_config`."""

    model: str
    system: str
    backend: str
    worker_type: str
    backend_version: str | None = None
    tp: int = 1
    pp: int = 1
    attention_dp: int = 1
    moe_tp_size: int | None = None
    moe_ep_size: int | None = None
    gemm_quant_mode: str | None = None
    kvcache_quant_mode: str | None = None
    nextn: int = 0
    speculation: dict[str, Any] | None = None
    kv_block_size: int | None = None
    estimation_mode: str = "auto"
    database_mode: str = "SILICON"
    fallback_policy: str = "deny"
    estimator_config: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_legacy_engine_config(
        cls,
        config: Mapping[str, Any],
        worker_type: str,
        options: Mapping[str, Any] | None = None,
        *,
        allow_regression: bool = False,
    ) -> ForwardPassPerfModelConfig:
        """The legacy `{model_name, system_name, backend, tp_size, pp_size}` record and its options (engine
        limits among them) as a configuration; the limits travel in `estimator_config`."""
        chosen = dict(options or {})
        limits = {
            key: chosen[key] for key in ("max_num_tokens", "max_batch_size", "max_kv_tokens") if key in chosen
        }
        return cls(
            model=str(config.get("model_name", "")),
            system=str(config.get("system_name", "")),
            backend=str(config.get("backend", "vllm")),
            worker_type=worker_type,
            tp=int(config.get("tp_size") or 1),
            pp=int(config.get("pp_size") or 1),
            estimator_config={
                "fpm_regression": {"sampling": {}},
                "correction": {"sampling": {}, "limits": limits},
            },
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RustForwardPassPerfModel:
    """Forward-pass time estimates by `aiconfigurator_core` for one role's configuration."""

    def __init__(self, estimator: Any, config: dict[str, Any]) -> None:
        self._estimator = estimator
        self._config = config
        self._observed = 0

    @classmethod
    def best_available(cls, config: Any) -> RustForwardPassPerfModel:
        """The estimator for `config` (a configuration or its dict); an error when aiconfigurator has no
        data for its system, model or backend (no silent stand-in)."""
        from aiconfigurator_core.sdk.rust_engine_step import RustForwardPassPerfModel as StepModel

        chosen = config.to_dict() if isinstance(config, ForwardPassPerfModelConfig) else dict(config)
        if chosen.get("worker_type") not in ("prefill", "decode", "aggregated"):
            raise ValueError(f"unknown worker_type {chosen.get('worker_type')!r}")
        legacy = {
            "schema_version": 1,
            "model_name": chosen["model"],
            "system_name": chosen["system"],
            "backend": chosen.get("backend") or "vllm",
            "tp_size": int(chosen.get("tp") or 1),
            "pp_size": int(chosen.get("pp") or 1),
        }
        limits = ((chosen.get("estimator_config") or {}).get("correction") or {}).get("limits") or None
        return cls(StepModel.from_native(legacy, dict(limits) if limits else None), chosen)

    @staticmethod
    def normalize_config(config: Any) -> dict[str, Any]:
        loaded = json.loads(config) if isinstance(config, str) else config
        chosen = loaded.to_dict() if isinstance(loaded, ForwardPassPerfModelConfig) else dict(loaded)
        return ForwardPassPerfModelConfig(**chosen).to_dict()

    def estimate_forward_pass_time_ms(self, metrics: Any) -> float | None:
        """One iteration's time: its ranks' metrics (a dict, or one per attention-data-parallel rank)."""
        ranks = [dict(metrics)] if isinstance(metrics, Mapping) else [dict(rank) for rank in metrics]
        estimate = self._estimator.estimate_forward_pass_time_ms(ranks)
        return None if estimate is None else float(estimate)

    def tune_with_fpms(self, iterations: Any) -> None:
        self._observed += 1 if isinstance(iterations, Mapping) else len(iterations or [])

    def diagnostics(self) -> dict[str, Any]:
        return {
            "source": SOURCE,
            "readiness": "ready",
            "retained_observations": self._observed,
            "last_warning": None,
        }

    def close(self) -> None:
        self._estimator = None
