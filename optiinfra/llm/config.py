"""What the inference layer is given: a client and a price per configured tier, the per-tenant daily
budget, the circuit breaker's policy and the semantic cache's store. Empty `tiers` means the rule tier
answers everything."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, Field
from qdrant_client import QdrantClient

from optiinfra.llm.chat import ChatClient
from optiinfra.llm.tiers import InferenceTier
from optiinfra.vectors.embedder import Embedder

DEFAULT_MAX_COMPLETION_TOKENS = 1024


class TokenPrice(BaseModel):
    input_usd_per_1k: float = Field(default=0.0, ge=0)
    output_usd_per_1k: float = Field(default=0.0, ge=0)

    def cost_usd(self, *, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.input_usd_per_1k + completion_tokens * self.output_usd_per_1k) / 1000


@dataclass(frozen=True)
class TierModel:
    client: ChatClient
    price: TokenPrice


@dataclass(frozen=True)
class BreakerPolicy:
    failure_threshold: int = 3
    cooldown_seconds: float = 60.0


@dataclass(frozen=True)
class BudgetPolicy:
    """Per tenant and UTC day. Once `downgrade_fraction` of it is spent, or a call's estimated cost would
    not fit what is left, a task goes to the next cheaper configured tier that fits; once all of it is
    spent, the rules answer. `max_completion_tokens` is sent with every call and bounds the estimate."""

    daily_budget_usd: float = 0.0
    downgrade_fraction: float = 0.8
    max_completion_tokens: int = DEFAULT_MAX_COMPLETION_TOKENS


@dataclass(frozen=True)
class SemanticCacheConfig:
    """`open_client` is called on first use, so configuring the cache touches no disk or network."""

    open_client: Callable[[], QdrantClient]
    embedder: Embedder
    threshold: float = 0.97


@dataclass(frozen=True)
class InferenceConfig:
    tiers: Mapping[InferenceTier, TierModel] = field(default_factory=dict)
    budget: BudgetPolicy = field(default_factory=BudgetPolicy)
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
    semantic_cache: SemanticCacheConfig | None = None
