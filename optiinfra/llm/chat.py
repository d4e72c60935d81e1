"""The shape of a chat call, independent of any client library, so the decision logic can be written and
tested against this protocol while only the adapter knows the wire format."""

from collections.abc import Sequence
from typing import Literal, Protocol

from pydantic import BaseModel, Field


class ChatMessage(BaseModel):
    """`assistant` carries a model's earlier answer back to it, as a repair does."""

    role: Literal["system", "user", "assistant"]
    content: str


class ChatReply(BaseModel):
    """The model's text and what it was billed for."""

    text: str
    model: str
    prompt_tokens: int = Field(ge=0)
    completion_tokens: int = Field(ge=0)


class LlmCallError(Exception):
    """The endpoint gave no usable reply (timeout, HTTP error, refused connection, empty answer).
    The message says which, for the usage record."""


class ChatClient(Protocol):
    @property
    def model(self) -> str: ...

    async def complete(self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None) -> ChatReply:
        """Ask for one JSON object of at most `max_tokens` completion tokens (None: the endpoint's
        limit). Raises LlmCallError on any failure to get one back."""
        ...

    async def aclose(self) -> None: ...
