"""The OpenAI-compatible client over real HTTP: what it sends, what it returns, and how it fails."""

from collections.abc import AsyncIterator, Callable

import pytest

from optiinfra.llm.chat import ChatMessage, LlmCallError
from optiinfra.llm.openai_chat import KEYLESS_PLACEHOLDER, OpenAIChatClient
from tests.support.openai_stub import OpenAIStub, answer, rate_limited, server_error, slow

MESSAGES = [ChatMessage(role="system", content="Answer in JSON."), ChatMessage(role="user", content="{}")]

ClientFactory = Callable[..., OpenAIChatClient]


@pytest.fixture
async def make_client(openai_stub: OpenAIStub) -> AsyncIterator[ClientFactory]:
    made: list[OpenAIChatClient] = []

    def make(*, api_key: str | None = "sk-test", timeout: float = 10.0) -> OpenAIChatClient:
        client = OpenAIChatClient(
            base_url=openai_stub.base_url, model="stub-model", api_key=api_key, timeout_seconds=timeout
        )
        made.append(client)
        return client

    yield make
    for client in made:
        await client.aclose()


async def test_returns_the_text_and_token_usage(openai_stub: OpenAIStub, make_client: ClientFactory) -> None:
    openai_stub.script(answer('{"ok": true}', prompt_tokens=321, completion_tokens=12))
    reply = await make_client().complete(MESSAGES)
    assert reply.text == '{"ok": true}'
    assert (reply.model, reply.prompt_tokens, reply.completion_tokens) == ("stub-model", 321, 12)


async def test_asks_for_a_json_object_with_the_messages_and_key(
    openai_stub: OpenAIStub, make_client: ClientFactory
) -> None:
    openai_stub.script(answer("{}"))
    await make_client().complete(MESSAGES)
    [request] = openai_stub.requests
    assert request["model"] == "stub-model"
    assert request["response_format"] == {"type": "json_object"}
    assert request["messages"] == [
        {"role": "system", "content": "Answer in JSON."},
        {"role": "user", "content": "{}"},
    ]
    assert openai_stub.authorizations == ["Bearer sk-test"]


async def test_caps_the_completion_and_carries_an_earlier_answer_as_the_assistant(
    openai_stub: OpenAIStub, make_client: ClientFactory
) -> None:
    openai_stub.script(answer("{}"), answer("{}"))
    repair = [
        *MESSAGES,
        ChatMessage(role="assistant", content="{oops"),
        ChatMessage(role="user", content="Fix."),
    ]
    await make_client().complete(repair, max_tokens=256)
    await make_client().complete(MESSAGES)
    capped, uncapped = openai_stub.requests
    assert capped["max_tokens"] == 256
    assert capped["messages"][2:] == [
        {"role": "assistant", "content": "{oops"},
        {"role": "user", "content": "Fix."},
    ]
    assert "max_tokens" not in uncapped


async def test_rate_limiting_is_not_retried_and_says_when_to_retry(
    openai_stub: OpenAIStub, make_client: ClientFactory
) -> None:
    openai_stub.script(rate_limited(12))
    with pytest.raises(LlmCallError, match=r"^HTTP 429 \(rate limited, retry after 12s\)$"):
        await make_client().complete(MESSAGES)
    assert len(openai_stub.requests) == 1


async def test_a_keyless_endpoint_gets_a_placeholder(
    openai_stub: OpenAIStub, make_client: ClientFactory
) -> None:
    openai_stub.script(answer("{}"))
    await make_client(api_key=None).complete(MESSAGES)
    assert openai_stub.authorizations == [f"Bearer {KEYLESS_PLACEHOLDER}"]


async def test_http_errors_are_not_retried(openai_stub: OpenAIStub, make_client: ClientFactory) -> None:
    openai_stub.script(server_error(503))
    with pytest.raises(LlmCallError, match="HTTP 503"):
        await make_client().complete(MESSAGES)
    assert len(openai_stub.requests) == 1


async def test_a_slow_answer_times_out(openai_stub: OpenAIStub, make_client: ClientFactory) -> None:
    openai_stub.script(slow(5.0))
    with pytest.raises(LlmCallError, match=r"timed out after 0\.3s"):
        await make_client(timeout=0.3).complete(MESSAGES)


async def test_an_empty_answer_is_an_error(openai_stub: OpenAIStub, make_client: ClientFactory) -> None:
    openai_stub.script(answer(""))
    with pytest.raises(LlmCallError, match="empty answer"):
        await make_client().complete(MESSAGES)


async def test_a_refused_connection_is_an_error() -> None:
    client = OpenAIChatClient(base_url="http://127.0.0.1:9/v1", model="m", api_key=None, timeout_seconds=5.0)
    try:
        with pytest.raises(LlmCallError, match="connection failed"):
            await client.complete(MESSAGES)
    finally:
        await client.aclose()
