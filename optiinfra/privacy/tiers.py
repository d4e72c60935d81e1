"""The three privacy tiers a customer can be in. New customers are in tier 1."""

from enum import IntEnum


class PrivacyTier(IntEnum):
    METRICS_ONLY = 1
    """Token counts, latencies, errors, model and context size: no text at all."""
    AGGREGATES = 2
    """Tier 1 plus aggregated statistics (RAG retrieval counts and relevance, prompt-structure shares)."""
    CONTENT = 3
    """Tier 2 plus prompt and completion text, encrypted at rest, every read audited. Opt-in."""

    def allows(self, needed: "PrivacyTier") -> bool:
        return self >= needed
