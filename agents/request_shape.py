"""A workload's own request shape, read from what its vLLM servers report: mean prompt and output lengths
from the token counters and the prompt's tail from `vllm:request_prompt_tokens`. A workload that has
served nothing measurable gets the default mix, and the shape's `source` says so."""

from collections.abc import Sequence

from optiinfra.capacity.shape import ShapeSource, TokenShape, default_token_shape
from optiinfra.domain.performance import WorkloadWindow

SHAPE_WINDOWS = 24 * 6
"""Windows (the last day at 10 minutes) whose token counts give the request shape."""


def measured_token_shape(windows: Sequence[WorkloadWindow]) -> TokenShape | None:
    """The shape of the last day's requests; None when no window served a request with a prompt."""
    recent = [w for w in windows[-SHAPE_WINDOWS:] if w.requests > 0]
    requests = sum(w.requests for w in recent)
    if requests <= 0:
        return None
    prompt = sum(w.prompt_tokens for w in recent) / requests
    output = sum(w.generation_tokens for w in recent) / requests
    if prompt <= 0:
        return None
    p95 = _request_weighted([(w.requests, w.prompt_tokens_p95) for w in recent])
    p99 = _request_weighted([(w.requests, w.prompt_tokens_p99) for w in recent])
    return TokenShape(
        mean_prompt_tokens=prompt,
        mean_output_tokens=max(1.0, output),
        p95_prompt_tokens=max(p95, prompt) if p95 is not None else None,
        p99_prompt_tokens=max(p99, p95 or prompt) if p99 is not None else None,
        source=ShapeSource.HISTOGRAMS if p95 is not None else ShapeSource.TOKEN_COUNTERS,
    )


def workload_token_shape(windows: Sequence[WorkloadWindow]) -> TokenShape:
    """The measured shape, or the default mix when the workload reports none."""
    return measured_token_shape(windows) or default_token_shape()


def _request_weighted(values: Sequence[tuple[float, float | None]]) -> float | None:
    """The windows' quantiles averaged by their request counts (windows without one are left out)."""
    known = [(weight, value) for weight, value in values if value is not None and weight > 0]
    total = sum(weight for weight, _ in known)
    return sum(weight * value for weight, value in known) / total if total > 0 else None
