"""The tier-1 request record: what OptiInfra may know about one request when it may know nothing of its
text. Every field is a number, a timestamp, a closed vocabulary or a short identifier that cannot hold a
space, so no prompt or completion text fits in it, and unknown fields are refused rather than dropped."""

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from optiinfra.domain.bounds import STORED_INT_MAX

IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:/@+-]{0,127}$"
Identifier = Annotated[str, StringConstraints(pattern=IDENTIFIER_PATTERN)]
"""A model or request-type name: at most 128 characters, no spaces, so free text cannot be carried."""

DEFAULT_REQUEST_TYPE = "default"


class RequestError(StrEnum):
    """Why a request failed, as a closed vocabulary (never the error message, which may quote the prompt)."""

    TIMEOUT = "timeout"
    RATE_LIMITED = "rate_limited"
    CONTEXT_OVERFLOW = "context_overflow"
    CLIENT_ERROR = "client_error"
    SERVER_ERROR = "server_error"


class TokenRecord(BaseModel):
    """One request as a tier-1 log line."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    model: Identifier
    request_type: Identifier = DEFAULT_REQUEST_TYPE
    context_tokens: int = Field(
        ge=0, le=STORED_INT_MAX, description="Prompt tokens, everything sent with the request"
    )
    generated_tokens: int = Field(ge=0, le=STORED_INT_MAX)
    latency_s: float | None = Field(default=None, ge=0, description="End to end")
    ttft_s: float | None = Field(default=None, ge=0, description="Time to first token")
    error: RequestError | None = None

    @property
    def total_tokens(self) -> int:
        return self.context_tokens + self.generated_tokens


class QualityVerdict(StrEnum):
    """How the cheaper model's answer compared with the current model's on the same request, as the
    application's own judge (a person or an evaluation) saw it."""

    NO_WORSE = "no_worse"
    WORSE = "worse"


class QualityComparison(BaseModel):
    """One request of a routing quality sample, answered by both models and compared: tier 1, like a
    request record (numbers, a closed vocabulary and short identifiers; never the prompt or the answers)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: datetime
    request_type: Identifier = DEFAULT_REQUEST_TYPE
    context_tokens: int = Field(ge=0, le=STORED_INT_MAX, description="Prompt tokens of the request compared")
    cheap_model: Identifier = Field(description="The model whose answer was compared with the current one's")
    verdict: QualityVerdict
