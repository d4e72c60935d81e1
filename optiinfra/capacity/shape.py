"""The request shape a capacity answer is for: prompt and output token lengths, and where they came from.

A workload's own shape comes from its vLLM histograms (`vllm:request_prompt_tokens`,
`vllm:request_generation_tokens`) or its request log; only a workload with neither falls back to the
default mix, and every answer built on it says so.
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from optiinfra.capacity.roofline import ReplicaLoad
from optiinfra.domain.percentiles import nearest_rank


class ShapeSource(StrEnum):
    HISTOGRAMS = "vLLM request-length histograms"
    REQUEST_LOG = "request log"
    TOKEN_COUNTERS = "token counters (means only)"
    DEFAULT_MIX = "default mix (Azure code-assistant lengths): the workload reports none of its own"


@dataclass(frozen=True)
class TokenShape:
    """Prompt and output lengths in tokens: means for throughput, the prompt's tail for TTFT."""

    mean_prompt_tokens: float
    mean_output_tokens: float
    p95_prompt_tokens: float | None = None
    p99_prompt_tokens: float | None = None
    source: ShapeSource = ShapeSource.TOKEN_COUNTERS

    def __post_init__(self) -> None:
        if self.mean_prompt_tokens < 0 or self.mean_output_tokens < 1:
            raise ValueError("mean prompt tokens must be >= 0 and mean output tokens >= 1")

    @classmethod
    def of_load(cls, load: ReplicaLoad) -> TokenShape:
        """The request lengths of a load offered to a replica."""
        return cls(
            load.mean_prompt_tokens, load.mean_output_tokens, load.p95_prompt_tokens, load.p99_prompt_tokens
        )

    def at_rate(self, arrival_rps: float) -> ReplicaLoad:
        """These requests offered to one replica at `arrival_rps`."""
        return ReplicaLoad(
            arrival_rps,
            self.mean_prompt_tokens,
            self.mean_output_tokens,
            self.p95_prompt_tokens,
            self.p99_prompt_tokens,
        )

    @classmethod
    def from_pairs(cls, pairs: Sequence[tuple[int, int]], source: ShapeSource) -> TokenShape:
        """From observed (prompt, output) pairs, e.g. a request log."""
        if not pairs:
            raise ValueError("no requests to take a shape from")
        prompts = sorted(prompt for prompt, _ in pairs)
        return cls(
            mean_prompt_tokens=statistics.fmean(prompts),
            mean_output_tokens=max(1.0, statistics.fmean(output for _, output in pairs)),
            p95_prompt_tokens=float(nearest_rank(prompts, 0.95)),
            p99_prompt_tokens=float(nearest_rank(prompts, 0.99)),
            source=source,
        )


# fmt: off
DEFAULT_TOKEN_PAIRS: tuple[tuple[int, int], ...] = (
    (15, 30), (41, 12), (61, 8), (80, 7), (97, 10), (123, 17), (149, 22), (175, 112),
    (196, 12), (229, 21), (261, 13), (318, 91), (368, 11), (427, 17), (491, 31), (548, 7),
    (596, 67), (674, 7), (742, 19), (785, 17), (849, 11), (898, 6), (942, 69), (988, 10),
    (1033, 7), (1067, 8), (1116, 8), (1172, 31), (1231, 15), (1301, 22), (1372, 8), (1431, 9),
    (1491, 128), (1571, 19), (1638, 11), (1701, 13), (1774, 27), (1852, 110), (1912, 14), (2011, 8),
    (2087, 17), (2158, 7), (2250, 7), (2326, 9), (2417, 16), (2484, 23), (2593, 46), (2687, 13),
    (2794, 62), (2928, 11), (3054, 14), (3230, 11), (3454, 11), (3651, 14), (3962, 14), (4270, 6),
    (4624, 6), (5047, 202), (5801, 91), (6192, 12), (7009, 10), (7432, 17), (7436, 6), (7436, 20),
)
# fmt: on
"""64 real (prompt, output) pairs of the Azure code-assistant trace, one per equal-count stratum of prompt
length (`python -m optiinfra.sim.traffic.generator` prints them from the data). The traffic generator
samples them; sizing falls back on them for a workload that reports no lengths of its own."""


def default_token_shape() -> TokenShape:
    return TokenShape.from_pairs(DEFAULT_TOKEN_PAIRS, ShapeSource.DEFAULT_MIX)
