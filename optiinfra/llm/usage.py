"""The record every reasoning answer leaves: who answered, what it cost over all its calls, and why rules
answered if they did. The store keeps one per answer under the workflow that asked, which is what the
daily per-tenant budget is summed from."""

from datetime import datetime

from pydantic import BaseModel, Field

from optiinfra.llm.tiers import InferenceTier


class LlmUsage(BaseModel):
    """`tier` and `model` name the model that was asked (after any budget downgrade); `rules` and empty
    when the task never reached one. Tokens and cost are what all the answer's calls were billed, a
    draft and its repairs together: a call whose answer was rejected still counts."""

    task: str
    tier: InferenceTier
    model: str = ""
    prompt_tokens: int = Field(default=0, ge=0)
    completion_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    calls: int = Field(default=0, ge=0, description="Model calls made for this answer, repairs included")
    repairs: int = Field(default=0, ge=0, description="Calls that asked the model to correct its answer")
    cached: bool = False
    fell_back_to_rules: bool = Field(
        default=False, description="A model tier was routed to, but the rule tier answered; `reason` says why"
    )
    reason: str = ""

    @property
    def written_by(self) -> str:
        """Who wrote the answer: `rules`, or `<tier>:<model>` for a model's answer that stood."""
        return "rules" if self.fell_back_to_rules or not self.model else f"{self.tier.value}:{self.model}"


class RecordedLlmUsage(LlmUsage):
    """A usage record as stored."""

    id: int
    workflow_id: str
    customer_id: str
    created_at: datetime
