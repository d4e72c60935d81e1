"""The exact-match cache's key and bound."""

from agents.reasoning.cache import AnswerCache, cache_key
from optiinfra.llm.chat import ChatMessage
from optiinfra.llm.tiers import InferenceTier

MESSAGES = [ChatMessage(role="system", content="Be brief."), ChatMessage(role="user", content="Explain.")]


def test_key_covers_tier_model_and_every_message() -> None:
    key = cache_key(InferenceTier.MEDIUM, "m", MESSAGES)
    assert key == cache_key(InferenceTier.MEDIUM, "m", list(MESSAGES))
    assert key != cache_key(InferenceTier.FRONTIER, "m", MESSAGES)
    assert key != cache_key(InferenceTier.MEDIUM, "other", MESSAGES)
    assert key != cache_key(
        InferenceTier.MEDIUM, "m", [MESSAGES[0], ChatMessage(role="user", content="Why?")]
    )


def test_least_recently_used_answer_leaves_first() -> None:
    cache = AnswerCache(max_entries=2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"
    cache.put("c", "C")
    assert (cache.get("a"), cache.get("b"), cache.get("c")) == ("A", None, "C")
