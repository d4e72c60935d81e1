"""A chat client for any OpenAI-compatible endpoint (vLLM, OpenAI, gateways), through the `openai` SDK."""

import asyncio
from collections.abc import Sequence

import openai
from openai.types.chat import ChatCompletionMessageParam

from optiinfra.llm.chat import ChatMessage, ChatReply, LlmCallError

# The SDK insists on a key; self-hosted endpoints (vLLM without --api-key) ignore whatever is sent.
KEYLESS_PLACEHOLDER = "not-needed"


class OpenAIChatClient:
    """One endpoint and model. Never retries: the rule tier answers at once instead, which is cheaper
    than making a workflow wait on a struggling endpoint."""

    def __init__(self, *, base_url: str, model: str, api_key: str | None, timeout_seconds: float) -> None:
        self._model = model
        self._timeout_seconds = timeout_seconds
        self._client = openai.AsyncOpenAI(
            base_url=base_url,
            api_key=api_key or KEYLESS_PLACEHOLDER,
            timeout=timeout_seconds,
            max_retries=0,
        )

    @property
    def model(self) -> str:
        return self._model

    async def complete(self, messages: Sequence[ChatMessage], *, max_tokens: int | None = None) -> ChatReply:
        try:
            # The SDK's timeout bounds each read; this bounds the whole call, a trickling answer included.
            async with asyncio.timeout(self._timeout_seconds):
                completion = await self._client.chat.completions.create(
                    model=self._model,
                    messages=[_as_param(message) for message in messages],
                    response_format={"type": "json_object"},
                    max_tokens=max_tokens if max_tokens is not None else openai.omit,
                )
        except (TimeoutError, openai.APITimeoutError) as error:
            raise LlmCallError(f"timed out after {self._timeout_seconds:g}s") from error
        except openai.RateLimitError as error:
            retry_after = error.response.headers.get("retry-after")
            hint = f", retry after {retry_after}s" if retry_after else ""
            raise LlmCallError(f"HTTP 429 (rate limited{hint})") from error
        except openai.APIStatusError as error:
            raise LlmCallError(f"HTTP {error.status_code}") from error
        except openai.APIConnectionError as error:
            raise LlmCallError(f"connection failed: {error}") from error
        except openai.OpenAIError as error:
            raise LlmCallError(f"unreadable response: {error}") from error
        if not completion.choices or not completion.choices[0].message.content:
            raise LlmCallError("empty answer")
        usage = completion.usage
        return ChatReply(
            text=completion.choices[0].message.content,
            model=completion.model or self._model,
            prompt_tokens=usage.prompt_tokens if usage else 0,
            completion_tokens=usage.completion_tokens if usage else 0,
        )

    async def aclose(self) -> None:
        await self._client.close()


def _as_param(message: ChatMessage) -> ChatCompletionMessageParam:
    if message.role == "system":
        return {"role": "system", "content": message.content}
    if message.role == "assistant":
        return {"role": "assistant", "content": message.content}
    return {"role": "user", "content": message.content}
