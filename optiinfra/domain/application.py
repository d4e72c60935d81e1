"""What the Application agent sees of a workload's requests: a compact profile of its tier-1 request log
(token counts per request type as statistics and fixed-grid histograms, never one request), with the
tier-2 aggregates when the customer shares them. Its size is bounded whatever the log's length, so it
travels in Temporal payloads.

The histograms are on fixed grids of bin upper edges, each bin holding the values v with
`upper[i - 1] < v <= upper[i]`. Counting "at most X tokens" or "more than X tokens" from them is exact when X
is an edge of the grid; the analyzers' thresholds and recommended windows are chosen on the edges."""

import bisect
from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, model_validator

from optiinfra.privacy.aggregates import PromptStructure, RagRetrievalStats
from optiinfra.privacy.records import Identifier

UNBOUNDED = 2**53
"""Upper edge of the last bin of every grid: it holds every value above the last real edge."""
TOKEN_BIN_UPPER: tuple[int, ...] = (
    0,
    *range(256, 16_384 + 1, 256),
    *range(17_408, 65_536 + 1, 1_024),
    *range(69_632, 262_144 + 1, 4_096),
    524_288,
    1_048_576,
    2_097_152,
    4_194_304,
    UNBOUNDED,
)
"""Edges of the context-token and total-token axes: every vLLM 256-token block multiple up to 16k tokens,
then every 1,024 up to 64k, every 4,096 up to 256k, then powers of two. Every edge is a multiple of 256."""
GENERATED_BIN_UPPER: tuple[int, ...] = (
    0,
    1,
    2,
    4,
    8,
    16,
    20,
    32,
    48,
    64,
    96,
    128,
    192,
    256,
    384,
    512,
    768,
    1_024,
    1_536,
    2_048,
    3_072,
    4_096,
    8_192,
    16_384,
    32_768,
    65_536,
    UNBOUNDED,
)
"""Edges of the generated-token axis: powers of two and the half-steps between them, plus 20."""
SECONDS_PER_MONTH = 30 * 24 * 3600
"""A month, for extrapolating a log's figures: 30 days."""
MAX_REQUEST_TYPES = 8
"""Request types profiled one by one; the smaller ones beyond are pooled as `OTHER_REQUEST_TYPE`."""
OTHER_REQUEST_TYPE = "other"


def bin_index(value: int, upper: tuple[int, ...]) -> int:
    """The bin of `value` on a grid of upper edges (values past the last real edge go to the last bin)."""
    return min(bisect.bisect_left(upper, value), len(upper) - 1)


def bin_lower(index: int, upper: tuple[int, ...]) -> int:
    """The exclusive lower bound of bin `index`: its values are above this and at most `upper[index]`."""
    return upper[index - 1] if index > 0 else -1


def edge_at_or_above(tokens: int, upper: tuple[int, ...] = TOKEN_BIN_UPPER) -> int | None:
    """The smallest real edge of the grid at or above `tokens`, None past the last real one."""
    index = bisect.bisect_left(upper, tokens)
    return upper[index] if index < len(upper) - 1 else None


class TokenStats(BaseModel):
    """A token count's distribution over a request type's requests. Percentiles are nearest-rank: the
    smallest count that at least that share of the requests does not exceed."""

    model_config = ConfigDict(frozen=True)

    mean: float = Field(ge=0)
    std: float = Field(ge=0, description="Population standard deviation")
    p50: int = Field(ge=0)
    p90: int = Field(ge=0)
    p95: int = Field(ge=0)
    p99: int = Field(ge=0)
    max: int = Field(ge=0)
    sum: int = Field(ge=0)

    @property
    def cv(self) -> float:
        """Coefficient of variation, std / mean (0 when the mean is 0)."""
        return self.std / self.mean if self.mean > 0 else 0.0


class TokenCell(BaseModel):
    """The requests whose context and generated token counts fall in one bin of each grid."""

    model_config = ConfigDict(frozen=True)

    context_bin: int = Field(ge=0, lt=len(TOKEN_BIN_UPPER))
    generated_bin: int = Field(ge=0, lt=len(GENERATED_BIN_UPPER))
    requests: int = Field(ge=1)
    context_tokens: int = Field(ge=0)
    generated_tokens: int = Field(ge=0)

    @property
    def context_upper(self) -> int:
        return TOKEN_BIN_UPPER[self.context_bin]

    @property
    def context_lower(self) -> int:
        return bin_lower(self.context_bin, TOKEN_BIN_UPPER)

    @property
    def generated_upper(self) -> int:
        return GENERATED_BIN_UPPER[self.generated_bin]

    @property
    def generated_lower(self) -> int:
        return bin_lower(self.generated_bin, GENERATED_BIN_UPPER)


class TotalBin(BaseModel):
    """The requests whose context plus generated tokens fall in one bin of the token grid."""

    model_config = ConfigDict(frozen=True)

    bin: int = Field(ge=0, lt=len(TOKEN_BIN_UPPER))
    requests: int = Field(ge=1)
    tokens: int = Field(ge=0, description="Their context plus generated tokens, summed")

    @property
    def upper(self) -> int:
        return TOKEN_BIN_UPPER[self.bin]

    @property
    def lower(self) -> int:
        return bin_lower(self.bin, TOKEN_BIN_UPPER)


class RequestTypeProfile(BaseModel):
    """One request type's requests in the log."""

    model_config = ConfigDict(frozen=True)

    request_type: Identifier
    requests: int = Field(ge=1)
    errors: int = Field(ge=0)
    first_at: datetime
    last_at: datetime
    context: TokenStats
    generated: TokenStats
    total: TokenStats = Field(description="Context plus generated tokens: the window a request needs")
    cells: list[TokenCell] = Field(description="Joint histogram of context and generated tokens (non-empty)")
    total_bins: list[TotalBin] = Field(description="Histogram of context plus generated tokens (non-empty)")

    @model_validator(mode="after")
    def _histograms_hold_every_request(self) -> "RequestTypeProfile":
        if self.last_at < self.first_at:
            raise ValueError("last_at cannot be before first_at")
        if self.errors > self.requests:
            raise ValueError("errors cannot exceed requests")
        if sum(cell.requests for cell in self.cells) != self.requests:
            raise ValueError("the joint histogram must hold every request")
        if sum(b.requests for b in self.total_bins) != self.requests:
            raise ValueError("the total-token histogram must hold every request")
        return self

    @property
    def error_share(self) -> float:
        return self.errors / self.requests

    @property
    def duration_s(self) -> float:
        """From its first to its last request."""
        return (self.last_at - self.first_at).total_seconds()


class QualityTally(BaseModel):
    """A routing quality sample's comparisons of one request type, cheaper model and prompt-length bin: how
    many requests were answered by both models and how many of the cheaper model's answers were judged
    worse."""

    model_config = ConfigDict(frozen=True)

    request_type: Identifier
    cheap_model: Identifier
    context_bin: int = Field(ge=0, lt=len(TOKEN_BIN_UPPER))
    compared: int = Field(ge=1)
    worse: int = Field(ge=0)

    @model_validator(mode="after")
    def _worse_among_compared(self) -> "QualityTally":
        if self.worse > self.compared:
            raise ValueError("worse answers cannot outnumber the comparisons")
        return self

    @property
    def context_upper(self) -> int:
        return TOKEN_BIN_UPPER[self.context_bin]


class ApplicationProfile(BaseModel):
    """A workload's request log over a period, per request type (largest first), with the tier-2 aggregates
    of the same workload when its customer is in tier 2 or above."""

    model_config = ConfigDict(frozen=True)

    start: datetime
    end: datetime
    requests: int = Field(ge=1)
    models: dict[Identifier, int] = Field(description="Requests per model the log names")
    types: list[RequestTypeProfile] = Field(min_length=1, max_length=MAX_REQUEST_TYPES)
    rag: list[RagRetrievalStats] = Field(default_factory=list, description="Tier 2+")
    prompt_structure: list[PromptStructure] = Field(default_factory=list, description="Tier 2+")
    quality: list[QualityTally] = Field(
        default_factory=list, description="Routing quality samples the application team sent"
    )

    @model_validator(mode="after")
    def _consistent(self) -> "ApplicationProfile":
        if self.end <= self.start:
            raise ValueError("the log must span some time (end after start) to extrapolate it to a month")
        if sum(t.requests for t in self.types) != self.requests:
            raise ValueError("the request types must hold every request")
        if len({t.request_type for t in self.types}) != len(self.types):
            raise ValueError("each request type is profiled once")
        return self

    @property
    def duration_s(self) -> float:
        return (self.end - self.start).total_seconds()

    @property
    def monthly_factor(self) -> float:
        """What multiplies the log's figures into a 30-day month's."""
        return SECONDS_PER_MONTH / self.duration_s

    @property
    def input_tokens(self) -> int:
        return sum(t.context.sum for t in self.types)

    @property
    def output_tokens(self) -> int:
        return sum(t.generated.sum for t in self.types)

    def request_type(self, name: str) -> RequestTypeProfile | None:
        return next((t for t in self.types if t.request_type == name), None)

    def prompt_structure_of(self, request_type: str) -> PromptStructure | None:
        return next((p for p in self.prompt_structure if p.request_type == request_type), None)
