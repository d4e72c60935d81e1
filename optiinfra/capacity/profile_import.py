"""Reads the result files of the three serving benchmarks users run against their own servers into
profile points, one per run (load level).

- `vllm bench serve --save-result` (vLLM 0.10-0.34): one JSON object per run, several separated by newlines
  with `--append-result`. Latencies are `{mean,median,pNN}_{ttft,tpot,itl}_ms`; percentiles other than p99
  exist only with `--metric-percentiles`. `--metadata gpu=H100 tp=1` lands as top-level keys.
- GuideLLM (0.4-0.8) report JSON: `benchmarks[]`, each with `metrics.<name>.successful.{mean, percentiles}`.
  GuideLLM's `inter_token_latency_ms` is what vLLM calls TPOT (its `time_per_output_token_ms` includes the
  first token, so it is not used).
- inference-perf (0.3-0.6) `stage_N_lifecycle_metrics.json` (or the summary): `successes.latency.<name>`
  distributions in seconds, `load_summary.concurrency` for concurrent load. The model is not in the file.

The load level of a point is the concurrency the run held: the limit the benchmark set where it set one
(closed loop), else Little's law on what it measured (requests/s x mean request latency).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeGuard

from optiinfra.domain.capacity_profiles import ProfilePoint


class ProfileFormatError(ValueError):
    """The file is not a result file of a benchmark we read, or lacks what a profile needs."""


@dataclass(frozen=True)
class ParsedProfile:
    """What one result file says: its tool, what it names of the deployment, and one point per run."""

    tool: str
    model_id: str | None
    gpu: str | None
    tp: int | None
    points: list[ProfilePoint]


def read_profile_file(path: Path) -> ParsedProfile:
    """Parse a result file of vllm bench serve, GuideLLM or inference-perf (detected from its keys)."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise ProfileFormatError(f"cannot read {path}: {error}") from None
    return parse_profile_text(text, str(path))


def parse_profile_text(text: str, name: str = "input") -> ParsedProfile:
    documents = _json_documents(text, name)
    first = documents[0]
    if "benchmarks" in first and isinstance(first["benchmarks"], list):
        return _guidellm(first, name)
    if "successes" in first and "load_summary" in first:
        return _inference_perf(first, name)
    if "request_throughput" in first and "mean_ttft_ms" in first:
        return _vllm_bench_serve(documents, name)
    raise ProfileFormatError(
        f"{name}: not a result file of vllm bench serve, GuideLLM or inference-perf "
        "(expected request_throughput + mean_ttft_ms, benchmarks[], or successes + load_summary)"
    )


def _json_documents(text: str, name: str) -> list[dict[str, Any]]:
    """One JSON object, or several separated by newlines (vllm bench serve --append-result)."""
    try:
        whole = json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        whole = None
    if isinstance(whole, dict):
        return [whole]
    found: list[dict[str, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            document = json.loads(line)
        except (json.JSONDecodeError, RecursionError) as error:
            raise ProfileFormatError(
                f"{name}: line {number} is not JSON: {error.__class__.__name__}"
            ) from None
        if not isinstance(document, dict):
            raise ProfileFormatError(f"{name}: line {number} is not a JSON object")
        found.append(document)
    if not found:
        raise ProfileFormatError(f"{name}: no JSON object in the file")
    return found


# --- vllm bench serve -----------------------------------------------------------------------------------


def _vllm_bench_serve(documents: list[dict[str, Any]], name: str) -> ParsedProfile:
    points = [_vllm_point(document, f"{name} run {index + 1}") for index, document in enumerate(documents)]
    first = documents[0]
    tp = first.get("tp") or first.get("tensor_parallel_size")
    return ParsedProfile(
        tool="vllm-bench-serve",
        model_id=_text(first.get("model_id")),
        gpu=_text(first.get("gpu")),
        tp=_positive_int(tp, f"{name}: tp"),
        points=points,
    )


def _vllm_point(run: Mapping[str, Any], where: str) -> ProfilePoint:
    completed = _number(run, "completed", where)
    if completed <= 0:
        raise ProfileFormatError(f"{where}: no request completed")
    rps = _number(run, "request_throughput", where)
    prompt = _number(run, "total_input_tokens", where) / completed
    output = _number(run, "total_output_tokens", where) / completed
    ttft = _number(run, "mean_ttft_ms", where)
    tpot = _number(run, "mean_tpot_ms", where)
    limit = run.get("max_concurrency")
    if isinstance(limit, int | float) and not isinstance(limit, bool) and limit > 0:
        concurrency = float(limit)
    else:
        latency_ms = _optional(run, "mean_e2el_ms") or ttft + max(output - 1, 0) * tpot
        concurrency = rps * latency_ms / 1000
    return _point(
        where,
        concurrency=concurrency,
        requests_per_s=rps,
        mean_prompt_tokens=prompt,
        mean_output_tokens=output,
        ttft_mean_ms=ttft,
        ttft_p50_ms=_optional(run, "median_ttft_ms"),
        ttft_p95_ms=_optional(run, "p95_ttft_ms"),
        ttft_p99_ms=_optional(run, "p99_ttft_ms"),
        tpot_mean_ms=tpot,
        tpot_p50_ms=_optional(run, "median_tpot_ms"),
        tpot_p95_ms=_optional(run, "p95_tpot_ms"),
        itl_p95_ms=_optional(run, "p95_itl_ms"),
    )


# --- GuideLLM -------------------------------------------------------------------------------------------


def _guidellm(report: Mapping[str, Any], name: str) -> ParsedProfile:
    benchmarks = report["benchmarks"]
    if not benchmarks:
        raise ProfileFormatError(f"{name}: the GuideLLM report has no benchmarks")
    points = [_guidellm_point(b, f"{name} benchmark {i + 1}") for i, b in enumerate(benchmarks)]
    return ParsedProfile(tool="guidellm", model_id=_guidellm_model(report), gpu=None, tp=None, points=points)


def _guidellm_model(report: Mapping[str, Any]) -> str | None:
    for path in (
        ("config", "spec", "backend", "model"),
        ("benchmarks", 0, "config", "backend", "model"),
        ("args", "model"),
        ("args", "backend_kwargs", "model"),
        ("benchmarks", 0, "worker", "backend_model"),
    ):
        found = _dig(report, path)
        if isinstance(found, str) and found:
            return found
    return None


def _guidellm_point(benchmark: Mapping[str, Any], where: str) -> ProfilePoint:
    metrics = benchmark.get("metrics")
    if not isinstance(metrics, Mapping):
        raise ProfileFormatError(f"{where}: no metrics")

    def stat(metric: str, key: str) -> float | None:
        summary = _dig(metrics, (metric, "successful"))
        if not isinstance(summary, Mapping):
            return None
        value = summary.get("percentiles", {}).get(key) if key.startswith("p") else summary.get(key)
        return float(value) if _is_number(value) and value > 0 else None

    def required(metric: str) -> float:
        found = stat(metric, "mean")
        if found is None:
            raise ProfileFormatError(f"{where}: {metric}.successful.mean is missing or zero")
        return found

    strategy = _dig(benchmark, ("config", "strategy")) or _dig(benchmark, ("args", "strategy")) or {}
    measured = stat("request_concurrency", "mean")
    held = next(
        (float(strategy[k]) for k in ("streams", "max_concurrency") if _is_number(strategy.get(k))), None
    )
    concurrency = measured or held
    if concurrency is None:
        raise ProfileFormatError(f"{where}: neither a measured nor a configured concurrency")
    return _point(
        where,
        concurrency=concurrency,
        requests_per_s=required("requests_per_second"),
        mean_prompt_tokens=required("prompt_token_count"),
        mean_output_tokens=required("output_token_count"),
        ttft_mean_ms=required("time_to_first_token_ms"),
        ttft_p50_ms=stat("time_to_first_token_ms", "p50"),
        ttft_p95_ms=stat("time_to_first_token_ms", "p95"),
        ttft_p99_ms=stat("time_to_first_token_ms", "p99"),
        tpot_mean_ms=required("inter_token_latency_ms"),
        tpot_p50_ms=stat("inter_token_latency_ms", "p50"),
        tpot_p95_ms=stat("inter_token_latency_ms", "p95"),
        itl_p95_ms=None,
    )


# --- inference-perf -------------------------------------------------------------------------------------


def _inference_perf(report: Mapping[str, Any], name: str) -> ParsedProfile:
    successes = report["successes"]
    load = report["load_summary"]
    if not isinstance(successes, Mapping) or not isinstance(load, Mapping):
        raise ProfileFormatError(f"{name}: successes and load_summary must be objects")

    def seconds_ms(metric: str, key: str) -> float | None:
        found = _dig(successes, ("latency", metric, key))
        return float(found) * 1000 if _is_number(found) and found > 0 else None

    def mean_of(*names: str) -> float:
        for metric in names:
            found = _dig(successes, (metric, "mean"))
            if _is_number(found) and found > 0:
                return float(found)
        raise ProfileFormatError(f"{name}: successes.{names[0]}.mean is missing")

    ttft = seconds_ms("time_to_first_token", "mean")
    tpot = seconds_ms("time_per_output_token", "mean")
    rps = _dig(successes, ("throughput", "requests_per_sec"))
    if ttft is None or tpot is None or not (_is_number(rps) and rps > 0):
        raise ProfileFormatError(
            f"{name}: needs successes.latency.time_to_first_token, .time_per_output_token and "
            "successes.throughput.requests_per_sec (a stage file, or a summary of a run that succeeded)"
        )
    held = load.get("concurrency")
    if _is_number(held) and held > 0:
        concurrency = float(held)
    else:
        latency = seconds_ms("request_latency", "mean")
        if latency is None:
            raise ProfileFormatError(f"{name}: neither load_summary.concurrency nor a request latency")
        concurrency = float(rps) * latency / 1000
    point = _point(
        name,
        concurrency=concurrency,
        requests_per_s=float(rps),
        mean_prompt_tokens=mean_of("prompt_len", "prompt_tokens"),
        mean_output_tokens=mean_of("output_len", "output_tokens"),
        ttft_mean_ms=ttft,
        ttft_p50_ms=seconds_ms("time_to_first_token", "median"),
        ttft_p95_ms=seconds_ms("time_to_first_token", "p95"),
        ttft_p99_ms=seconds_ms("time_to_first_token", "p99"),
        tpot_mean_ms=tpot,
        tpot_p50_ms=seconds_ms("time_per_output_token", "median"),
        tpot_p95_ms=seconds_ms("time_per_output_token", "p95"),
        itl_p95_ms=seconds_ms("inter_token_latency", "p95"),
    )
    return ParsedProfile(tool="inference-perf", model_id=None, gpu=None, tp=None, points=[point])


# --- shared ---------------------------------------------------------------------------------------------


def _point(where: str, **values: float | None) -> ProfilePoint:
    try:
        return ProfilePoint.model_validate(values)
    except ValueError as error:
        first = str(error).splitlines()
        raise ProfileFormatError(f"{where}: {' '.join(first[1:3]) if len(first) > 2 else error}") from None


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and value == value


def _number(run: Mapping[str, Any], key: str, where: str) -> float:
    value = run.get(key)
    if not _is_number(value):
        raise ProfileFormatError(f"{where}: {key} is missing or not a number")
    return float(value)


def _optional(run: Mapping[str, Any], key: str) -> float | None:
    value = run.get(key)
    return float(value) if _is_number(value) and value > 0 else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _positive_int(value: object, where: str) -> int | None:
    if value is None:
        return None
    try:
        found = int(str(value))
    except ValueError:
        raise ProfileFormatError(f"{where} is not a whole number: {value!r}") from None
    if found < 1:
        raise ProfileFormatError(f"{where} must be at least 1")
    return found


def _dig(document: Any, path: tuple[str | int, ...]) -> Any:
    found = document
    for key in path:
        if isinstance(key, int):
            if not isinstance(found, list) or len(found) <= key:
                return None
        elif not isinstance(found, Mapping):
            return None
        found = found[key] if isinstance(key, int) else found.get(key)
    return found
