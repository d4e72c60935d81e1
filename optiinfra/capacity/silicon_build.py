"""Builds the silicon reference tables from NVIDIA's aiconfigurator database.

`aiconfigurator-core` (Apache-2.0) ships kernel timings measured on real GPUs (GEMMs, attention, NCCL) and
composes them into TTFT, TPOT and throughput for an aggregated vLLM deployment at a given batch and request
shape. It is large (pandas, pyarrow, 90 MB of parquet) and x86_64-only, so the runtime does not import it:
this command evaluates it over a grid and writes `data/silicon_vllm.json` with its provenance (package
version, backend, database version per GPU, date), the way the price catalog is built.

    uv run --group dev python -m optiinfra.capacity.silicon_build [--out PATH]

The grid is dense enough in log space that interpolating it stays within a few percent of the live
database off the grid (`optiinfra bench capacity` measures that when the package is installed).
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib.metadata
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from optiinfra.capacity.silicon import (
    DEFAULT_TABLE_PATH,
    SILICON_BATCHES,
    SILICON_ISLS,
    SILICON_OSLS,
    SiliconKey,
)

BACKEND = "vllm"
PACKAGE = "aiconfigurator-core"

SYSTEM_BY_GPU: dict[str, str] = {
    "NVIDIA H100": "h100_sxm",
    "NVIDIA H200": "h200_sxm",
    "NVIDIA L40S": "l40s",
    "NVIDIA A100 80GB": "a100_sxm",
    "NVIDIA B200": "b200_sxm",
}
"""Our GPU spec names -> aiconfigurator systems. The database's A100 is the 80 GB SXM part; the 40 GB
part has the same compute and a lower bandwidth, so it stays on the roofline."""

CHECKPOINT_BY_MODEL: dict[str, str] = {
    "Llama-3.1-8B": "meta-llama/Meta-Llama-3.1-8B",
    "Llama-3.1-8B-FP8": "meta-llama/Meta-Llama-3.1-8B",
    "Qwen3-8B": "Qwen/Qwen3-8B",
    "Llama-3.1-70B": "meta-llama/Meta-Llama-3.1-70B",
}
"""Our capacity-model names -> the architectures bundled with aiconfigurator (Instruct variants share
them). The FP8 model is the same checkpoint run with FP8 GEMMs and an FP8 KV cache."""

FP8_MODELS = frozenset({"Llama-3.1-8B-FP8"})


@dataclass(frozen=True)
class Deployment:
    """One (GPU, model, tensor-parallel degree) the tables cover."""

    gpu: str
    model: str
    tp: int


def deployments() -> Iterator[Deployment]:
    """What the fleet's catalog can run: single-GPU 8B models everywhere, 70B on 2-8 GPUs where it fits."""
    for gpu, system in SYSTEM_BY_GPU.items():
        for model in ("Llama-3.1-8B", "Qwen3-8B"):
            yield Deployment(gpu, model, 1)
        if system != "a100_sxm":  # the A100 has no FP8 tensor cores (aiconfigurator refuses it)
            yield Deployment(gpu, "Llama-3.1-8B-FP8", 1)
        for tp in (2, 4, 8):
            if tp == 2 and system not in ("h200_sxm", "b200_sxm"):
                continue  # 141 GB of 70B weights do not leave a KV cache on two 80 GB (or 48 GB) GPUs
            yield Deployment(gpu, "Llama-3.1-70B", tp)


class _Estimator:
    """aiconfigurator's aggregated-serving estimate for one deployment, built once (loading is slow)."""

    def __init__(self, deployment: Deployment) -> None:
        from aiconfigurator_core.sdk.backends.factory import get_backend
        from aiconfigurator_core.sdk.config_builders import build_model_config
        from aiconfigurator_core.sdk.models import get_model
        from aiconfigurator_core.sdk.models.helpers import (
            resolve_context_fmha_by_data,
            resolve_nvfp4_for_system,
        )
        from aiconfigurator_core.sdk.perf_database import get_database_view, get_latest_database_version

        system = SYSTEM_BY_GPU[deployment.gpu]
        checkpoint = CHECKPOINT_BY_MODEL[deployment.model]
        self.database_version = str(get_latest_database_version(system=system, backend=BACKEND))
        database = get_database_view(system, BACKEND, self.database_version, database_mode="SILICON")
        quant: dict[str, Any] = (
            {"gemm_quant_mode": "fp8", "kvcache_quant_mode": "fp8"} if deployment.model in FP8_MODELS else {}
        )
        config = build_model_config(
            tp_size=deployment.tp, pp_size=1, attention_dp_size=1, moe_tp_size=1, moe_ep_size=1, **quant
        )
        resolve_context_fmha_by_data(config, checkpoint, database, BACKEND, is_context_role=True)
        resolve_nvfp4_for_system(config, system, checkpoint, backend_name=BACKEND)
        if database is None:
            raise LookupError(f"aiconfigurator has no {BACKEND} database for {system}")
        self._model = get_model(checkpoint, config, BACKEND)
        self._database = database
        self._backend = get_backend(BACKEND)

    def estimate(self, isl: int, osl: int, batch: int) -> tuple[float, float, float, bool]:
        """(TTFT ms, TPOT ms, requests/s, fits in memory) at `batch` requests in flight."""
        from aiconfigurator_core.sdk.config import RuntimeConfig

        summary = self._backend.run_agg(
            self._model, self._database, RuntimeConfig(isl=isl, osl=osl, batch_size=batch), ctx_tokens=isl
        )
        result = summary.get_result_dict()
        if result is None:
            raise LookupError(f"aiconfigurator gave no estimate at isl {isl}, osl {osl}, batch {batch}")
        fits = not (summary.check_oom() or summary.check_kv_cache_oom())
        return float(result["ttft"]), float(result["tpot"]), float(result["seq/s"]), fits


def live_estimator(key: SiliconKey) -> _Estimator:
    """The live database for one deployment (bench capacity checks the shipped tables against it)."""
    return _Estimator(Deployment(key.gpu, key.model, key.tp))


def build_tables() -> dict[str, Any]:
    logging.disable(logging.WARNING)  # the database logs every fallback row it loads
    tables: list[dict[str, Any]] = []
    for deployment in deployments():
        estimator = _Estimator(deployment)
        points = []
        for isl in SILICON_ISLS:
            for osl in SILICON_OSLS:
                for batch in SILICON_BATCHES:
                    ttft, tpot, rps, fits = estimator.estimate(isl, osl, batch)
                    points.append([isl, osl, batch, round(ttft, 4), round(tpot, 4), round(rps, 6), fits])
        tables.append(
            {
                "gpu": deployment.gpu,
                "model": deployment.model,
                "tp": deployment.tp,
                "system": SYSTEM_BY_GPU[deployment.gpu],
                "database_version": estimator.database_version,
                "points": points,
            }
        )
        print(f"{deployment.gpu} {deployment.model} TP{deployment.tp}: {len(points)} points", file=sys.stderr)
    return {
        "source": f"NVIDIA aiconfigurator ({PACKAGE} {importlib.metadata.version(PACKAGE)}), Apache-2.0",
        "backend": BACKEND,
        "mode": "aggregated serving (run_agg), checkpoint precision unless the model name says FP8",
        "built": dt.date.today().isoformat(),
        "columns": ["isl", "osl", "batch", "ttft_ms", "tpot_ms", "requests_per_s", "fits"],
        "tables": tables,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m optiinfra.capacity.silicon_build",
        description="Write the silicon reference tables from NVIDIA's aiconfigurator database.",
    )
    parser.add_argument("--out", type=Path, default=DEFAULT_TABLE_PATH, help="where to write the tables")
    args = parser.parse_args(argv)
    try:
        document = build_tables()
    except ImportError:
        sys.exit(f"error: {PACKAGE} is not installed (it comes with the dev dependency group: uv sync)")
    args.out.write_text(json.dumps(document, separators=(",", ":")) + "\n")
    print(f"wrote {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
