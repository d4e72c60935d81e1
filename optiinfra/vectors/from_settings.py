"""The embedder the settings ask for: an OpenAI-compatible embeddings endpoint when both its URL and model
are set, otherwise local feature hashing."""

from optiinfra.settings import Settings
from optiinfra.vectors.embedder import Embedder
from optiinfra.vectors.hashing import HashingEmbedder
from optiinfra.vectors.openai_embeddings import OpenAIEmbedder


def embedder_from_settings(settings: Settings) -> Embedder:
    if settings.llm_embedding_url and settings.llm_embedding_model:
        api_key = settings.llm_embedding_api_key
        return OpenAIEmbedder(
            base_url=settings.llm_embedding_url,
            model=settings.llm_embedding_model,
            api_key=api_key.get_secret_value() if api_key else None,
            timeout_seconds=settings.llm_timeout_seconds,
        )
    return HashingEmbedder()
