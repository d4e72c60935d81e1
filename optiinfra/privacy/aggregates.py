"""Tier-2 inputs: statistics aggregated over many requests of one request type and period. Numbers only;
no single request, and no text, can be recovered from them."""

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, model_validator

from optiinfra.domain.bounds import STORED_INT_MAX
from optiinfra.privacy.records import Identifier

SHARES_TOLERANCE = 0.01


class RagRetrievalStats(BaseModel):
    """How a retrieval-augmented request type used its retrieved chunks over a period."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_type: Identifier
    period_start: datetime
    period_end: datetime
    requests: int = Field(ge=1, le=STORED_INT_MAX)
    chunk_tokens: int = Field(gt=0, le=STORED_INT_MAX, description="Tokens per retrieved chunk")
    mean_chunks_retrieved: float = Field(ge=0)
    mean_chunks_used: float = Field(ge=0, description="Chunks the answer drew on (cited or attributed)")
    relevance_by_rank: list[float] = Field(
        default_factory=list,
        description="Mean relevance score (0-1) of the k-th retrieved chunk, best-ranked first",
    )

    @model_validator(mode="after")
    def _consistent(self) -> "RagRetrievalStats":
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        if self.mean_chunks_used > self.mean_chunks_retrieved:
            raise ValueError("mean_chunks_used cannot exceed mean_chunks_retrieved")
        if any(not 0.0 <= score <= 1.0 for score in self.relevance_by_rank):
            raise ValueError("relevance scores lie between 0 and 1")
        return self


class PromptPart(StrEnum):
    SYSTEM = "system"
    EXAMPLES = "examples"
    RETRIEVED = "retrieved"
    HISTORY = "history"
    USER = "user"


class PromptStructure(BaseModel):
    """Which share of a request type's prompt tokens each part of the prompt takes, over a period."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_type: Identifier
    period_start: datetime
    period_end: datetime
    requests: int = Field(ge=1, le=STORED_INT_MAX)
    shares: dict[PromptPart, float]

    @model_validator(mode="after")
    def _shares_sum_to_one(self) -> "PromptStructure":
        if self.period_end <= self.period_start:
            raise ValueError("period_end must be after period_start")
        if any(not 0.0 <= share <= 1.0 for share in self.shares.values()):
            raise ValueError("each share lies between 0 and 1")
        if abs(sum(self.shares.values()) - 1.0) > SHARES_TOLERANCE:
            raise ValueError("the shares of the prompt's parts must sum to 1")
        return self
