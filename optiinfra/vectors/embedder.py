"""What turns text into vectors, independent of how: local feature hashing or an embeddings endpoint."""

from collections.abc import Sequence
from typing import Protocol


class EmbeddingError(Exception):
    """The embedder gave no vectors (endpoint down, timed out, malformed reply)."""


class Embedder(Protocol):
    @property
    def name(self) -> str:
        """Names the vector space: vectors from embedders of different names are never compared."""
        ...

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """One vector per text, in order, all of one length. Raises EmbeddingError on failure."""
        ...

    async def aclose(self) -> None: ...
