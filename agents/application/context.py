"""Context-window right-sizing per request type: a window that holds what the type really sends.

The window a request needs is its prompt plus its output. Per request type the recommendation is the p95
of that, plus a buffer (10% by default), rounded up to a multiple of 256 tokens (vLLM's KV blocks are 16
tokens; 256 keeps windows on round sizes) that is an edge of the profile's token grid, so the share of
requests above it and their tokens are exact. A deployment serves every type through one
`--max-model-len`, so its window is the largest type's recommendation.

What it buys: the requests above the window (at most 5% of a type by construction) are cut or summarised
by the application before they are sent, and the tokens cut are priced at the model's input price. It is
the application's change: a server window below what clients send would refuse their longer requests,
and a lower `--max-model-len` frees no KV memory in vLLM V1 (blocks are allocated as sequences grow); it
only bounds the KV cache one sequence can hold."""

import math
from dataclasses import dataclass

from optiinfra.application.model_prices import ModelPrice
from optiinfra.domain.application import ApplicationProfile, RequestTypeProfile, edge_at_or_above

DEFAULT_BUFFER = 0.10
WINDOW_ALIGNMENT = 256


@dataclass(frozen=True)
class TypeWindow:
    request_type: str
    requests: int
    total_p95_tokens: int
    total_max_tokens: int
    recommended_window: int
    truncated_requests: int
    """Requests longer than the recommended window."""
    tokens_cut: int
    """Tokens those requests hold beyond the window, in the log."""

    @property
    def truncated_share(self) -> float:
        return self.truncated_requests / self.requests


@dataclass(frozen=True)
class ContextRightSizing:
    current_window: int
    recommended_window: int
    """The largest type's window, never above the current one."""
    buffer: float
    types: tuple[TypeWindow, ...]
    requests: int
    truncated_requests: int
    """Requests longer than `recommended_window`."""
    tokens_cut: int
    monthly_factor: float
    input_usd_per_1m: float | None
    kv_bytes_per_token: float | None

    @property
    def changes(self) -> bool:
        return self.recommended_window < self.current_window

    @property
    def truncated_share(self) -> float:
        return self.truncated_requests / self.requests

    @property
    def monthly_tokens_cut(self) -> float:
        return self.tokens_cut * self.monthly_factor

    @property
    def monthly_savings_usd(self) -> float | None:
        """The cut tokens at the input price; None when the model has no price."""
        if self.input_usd_per_1m is None:
            return None
        return self.monthly_tokens_cut * self.input_usd_per_1m / 1_000_000

    @property
    def window_reduction(self) -> float:
        return 1.0 - self.recommended_window / self.current_window

    @property
    def kv_bytes_freed_per_sequence(self) -> float | None:
        """Worst-case KV cache of one sequence the smaller window frees, when the architecture is known."""
        if self.kv_bytes_per_token is None:
            return None
        return (self.current_window - self.recommended_window) * self.kv_bytes_per_token


def recommended_window(total_p95_tokens: int, buffer: float = DEFAULT_BUFFER) -> int:
    """p95 of prompt plus output, plus the buffer, rounded up to a 256-token multiple on the token grid."""
    if buffer < 0:
        raise ValueError("the buffer cannot be negative")
    wanted = max(WINDOW_ALIGNMENT, math.ceil(total_p95_tokens * (1.0 + buffer)))
    aligned = math.ceil(wanted / WINDOW_ALIGNMENT) * WINDOW_ALIGNMENT
    on_grid = edge_at_or_above(aligned)
    return on_grid if on_grid is not None else aligned


def over_window(request_type: RequestTypeProfile, window: int) -> tuple[int, int]:
    """Requests of the type longer than `window`, and their tokens beyond it. Exact when `window` is an edge
    of the token grid; otherwise a bin straddling it counts as over, and its tokens beyond the window are
    read from the bin's sum (a lower bound)."""
    requests = tokens = 0
    for found in request_type.total_bins:
        if found.upper > window:
            requests += found.requests
            tokens += max(0, found.tokens - found.requests * window)
    return requests, tokens


def right_size_context(
    profile: ApplicationProfile,
    current_window: int,
    *,
    buffer: float = DEFAULT_BUFFER,
    price: ModelPrice | None = None,
) -> ContextRightSizing:
    """Per type and for the deployment, against `current_window` (the model's context or the server's
    `--max-model-len`). `price` gives the input price and, when known, the KV bytes per token."""
    if current_window <= 0:
        raise ValueError("the current window must be positive")
    types: list[TypeWindow] = []
    for request_type in profile.types:
        window = min(recommended_window(request_type.total.p95, buffer), current_window)
        truncated, cut = over_window(request_type, window)
        types.append(
            TypeWindow(
                request_type=request_type.request_type,
                requests=request_type.requests,
                total_p95_tokens=request_type.total.p95,
                total_max_tokens=request_type.total.max,
                recommended_window=window,
                truncated_requests=truncated,
                tokens_cut=cut,
            )
        )
    deployment_window = max(t.recommended_window for t in types)
    truncated = cut = 0
    for request_type in profile.types:
        over, tokens = over_window(request_type, deployment_window)
        truncated += over
        cut += tokens
    return ContextRightSizing(
        current_window=current_window,
        recommended_window=deployment_window,
        buffer=buffer,
        types=tuple(types),
        requests=profile.requests,
        truncated_requests=truncated,
        tokens_cut=cut,
        monthly_factor=profile.monthly_factor,
        input_usd_per_1m=price.input_usd_per_1m if price is not None else None,
        kv_bytes_per_token=price.kv_bytes_per_token if price is not None else None,
    )
