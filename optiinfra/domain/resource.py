"""What the Resource agent sees of a workload's KV-cache reuse: its recent prefix trace replayed through
kvtier at a range of cache sizes (a what-if curve per eviction policy), and its requests' context lengths."""

import itertools
import math

from pydantic import BaseModel, ConfigDict, Field, model_validator

from optiinfra.domain.enums import RequestRouting


class PrefixCacheProfile(BaseModel):
    """Block hit rates of the workload's own recent requests at `capacities` (blocks of `block_tokens`),
    one curve per eviction policy, with the trace's unlimited-cache hit rate and context lengths (prompt plus
    output tokens) at the quantiles context sizing reads."""

    model_config = ConfigDict(frozen=True)

    source: str
    requests: int = Field(ge=1)
    block_tokens: int = Field(ge=1)
    blocks_requested: int = Field(ge=1)
    working_set_blocks: int = Field(ge=1, description="Distinct blocks: the size at which nothing is evicted")
    unlimited_hit_rate: float = Field(ge=0, le=1)
    capacities: list[int] = Field(min_length=1)
    hit_rates: dict[str, list[float]] = Field(description="policy -> hit rate at each of `capacities`")
    context_p50_tokens: int = Field(ge=0)
    context_p95_tokens: int = Field(ge=0)
    context_p99_tokens: int = Field(ge=0)
    context_max_tokens: int = Field(ge=0)
    replicas: int = Field(default=1, ge=1, description="Caches the routed curves split the trace over")
    routed_hit_rates: dict[RequestRouting, dict[str, list[float]]] = Field(
        default_factory=dict,
        description=(
            "routing -> policy -> fleet hit rate when each of `replicas` caches holds capacity / replicas "
            "blocks and sees the requests that routing sends it"
        ),
    )
    routed_unlimited_hit_rates: dict[RequestRouting, float] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _curves_match_capacities(self) -> "PrefixCacheProfile":
        if self.capacities != sorted(set(self.capacities)):
            raise ValueError("capacities must be strictly increasing")
        curves = [*self.hit_rates.items()] + [
            (f"{routing}/{policy}", rates)
            for routing, by_policy in self.routed_hit_rates.items()
            for policy, rates in by_policy.items()
        ]
        for name, rates in curves:
            if len(rates) != len(self.capacities):
                raise ValueError(f"{name}: {len(rates)} hit rates for {len(self.capacities)} capacities")
        if set(self.routed_unlimited_hit_rates) != set(self.routed_hit_rates):
            raise ValueError("every routed curve needs its unlimited hit rate")
        return self

    def hit_rate(self, policy: str, blocks: float, routing: RequestRouting | None = None) -> float:
        """Hit rate at `blocks` in all (interpolated on the curve, log-linear between its points; the
        unlimited rate at or past the working set, 0 for none): of one cache holding them all when
        `routing` is None, else of `replicas` caches sharing them under `routing` (the pooled curve where
        the profile has no routed one)."""
        replayed = routing.replayed_as if routing is not None else None
        if replayed is not None and replayed in self.routed_hit_rates:
            return self._interpolate(
                self.routed_hit_rates[replayed][policy], self.routed_unlimited_hit_rates[replayed], blocks
            )
        return self._interpolate(self.hit_rates[policy], self.unlimited_hit_rate, blocks)

    def _interpolate(self, rates: list[float], unlimited: float, blocks: float) -> float:
        if blocks <= 0:
            return 0.0
        if blocks >= self.working_set_blocks:
            return unlimited
        points = [(0.0, 0.0)] if self.capacities[0] > 0 else []
        points += list(zip((float(c) for c in self.capacities), rates, strict=True))
        points.append((float(self.working_set_blocks), unlimited))
        for (low, low_rate), (high, high_rate) in itertools.pairwise(points):
            if low <= blocks <= high:
                if low <= 0 or high <= low:
                    share = (blocks - low) / (high - low) if high > low else 1.0
                else:
                    share = math.log(blocks / low) / math.log(high / low)
                return low_rate + share * (high_rate - low_rate)
        return rates[-1]
