"""What the inference layer is given: a client and a price per configured tier, the per-tenant budget and
the circuit breaker's policy. Empty `tiers` means the rule tier answers everything."""

from collections.abc import Mapping
from dataclasses import dataclass, field

from pydantic import BaseModel, Field

from optiinfra.llm.chat import ChatClient
from optiinfra.llm.tiers import InferenceTier


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
class InferenceConfig:
    tiers: Mapping[InferenceTier, TierModel] = field(default_factory=dict)
    monthly_budget_usd: float = 0.0
    breaker: BreakerPolicy = field(default_factory=BreakerPolicy)
