"""Embeddings from any OpenAI-compatible endpoint (vLLM serving an embedding model, OpenAI, gateways)."""

import asyncio
from collections.abc import Sequence

import openai

from optiinfra.llm.openai_chat import KEYLESS_PLACEHOLDER
from optiinfra.vectors.embedder import EmbeddingError


class OpenAIEmbedder:
    """Never retries: a failed embedding only costs a cache miss."""

    def __init__(self, *, base_url: str, model: str, api_key: str | None, timeout_seconds: float) -> None:
        self._model = model
        self._timeout_seconds = timeout_seconds
        self._client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key or KEYLESS_PLACEHOLDER, timeout=timeout_seconds, max_retries=0
        )

    @property
    def name(self) -> str:
        return f"openai:{self._model}"

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        if not texts:
            return []
        try:
            async with asyncio.timeout(self._timeout_seconds):
                response = await self._client.embeddings.create(
                    model=self._model, input=list(texts), encoding_format="float"
                )
        except (TimeoutError, openai.APITimeoutError) as error:
            raise EmbeddingError(f"timed out after {self._timeout_seconds:g}s") from error
        except openai.APIStatusError as error:
            raise EmbeddingError(f"HTTP {error.status_code}") from error
        except openai.OpenAIError as error:
            raise EmbeddingError(f"embedding call failed: {error}") from error
        vectors = [item.embedding for item in sorted(response.data, key=lambda item: item.index)]
        if len(vectors) != len(texts) or len({len(vector) for vector in vectors}) != 1 or not vectors[0]:
            raise EmbeddingError(f"expected {len(texts)} vectors of one length, got {len(vectors)}")
        return vectors

    async def aclose(self) -> None:
        await self._client.close()
