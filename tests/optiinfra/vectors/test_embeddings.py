"""The OpenAI-compatible embeddings client against the live stub, and which embedder settings choose."""

import pytest

from optiinfra.settings import Settings
from optiinfra.vectors.embedder import EmbeddingError
from optiinfra.vectors.from_settings import embedder_from_settings
from optiinfra.vectors.hashing import HashingEmbedder
from optiinfra.vectors.openai_embeddings import OpenAIEmbedder
from tests.support.openai_stub import OpenAIStub, stub_embedding


async def test_vectors_come_back_in_input_order(openai_stub: OpenAIStub) -> None:
    embedder = OpenAIEmbedder(
        base_url=openai_stub.base_url, model="embed-model", api_key="k", timeout_seconds=5
    )
    try:
        vectors = await embedder.embed(["first", "second", "third"])
    finally:
        await embedder.aclose()
    assert vectors == [stub_embedding("first"), stub_embedding("second"), stub_embedding("third")]
    [request] = openai_stub.embedding_requests
    assert request == {
        "model": "embed-model",
        "input": ["first", "second", "third"],
        "encoding_format": "float",
    }
    assert embedder.name == "openai:embed-model"


async def test_nothing_to_embed_sends_nothing(openai_stub: OpenAIStub) -> None:
    embedder = OpenAIEmbedder(base_url=openai_stub.base_url, model="m", api_key=None, timeout_seconds=5)
    try:
        assert await embedder.embed([]) == []
    finally:
        await embedder.aclose()
    assert openai_stub.embedding_requests == []


async def test_an_unreachable_endpoint_is_an_embedding_error() -> None:
    embedder = OpenAIEmbedder(base_url="http://127.0.0.1:9/v1", model="m", api_key=None, timeout_seconds=5)
    try:
        with pytest.raises(EmbeddingError, match="embedding call failed"):
            await embedder.embed(["text"])
    finally:
        await embedder.aclose()


async def test_settings_choose_the_endpoint_only_with_url_and_model(monkeypatch: pytest.MonkeyPatch) -> None:
    assert isinstance(embedder_from_settings(Settings(_env_file=None)), HashingEmbedder)
    monkeypatch.setenv("OPTIINFRA_LLM_EMBEDDING_URL", "http://vllm-embed:8000/v1")
    assert isinstance(embedder_from_settings(Settings(_env_file=None)), HashingEmbedder)
    monkeypatch.setenv("OPTIINFRA_LLM_EMBEDDING_MODEL", "BAAI/bge-small-en-v1.5")
    embedder = embedder_from_settings(Settings(_env_file=None))
    assert isinstance(embedder, OpenAIEmbedder)
    assert embedder.name == "openai:BAAI/bge-small-en-v1.5"
    await embedder.aclose()
