"""Exact-match answer cache: the same question to the same model is answered from memory, free.

Keyed on tier, model and the full messages; only answers that passed validation are kept, so a cached
answer never needs a fallback. Bounded, least recently used first out."""

import hashlib
import json
from collections import OrderedDict
from collections.abc import Sequence

from optiinfra.llm.chat import ChatMessage
from optiinfra.llm.tiers import InferenceTier

DEFAULT_MAX_ENTRIES = 1024


def cache_key(tier: InferenceTier, model: str, messages: Sequence[ChatMessage]) -> str:
    payload = [tier.value, model, [message.model_dump() for message in messages]]
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class AnswerCache:
    def __init__(self, max_entries: int = DEFAULT_MAX_ENTRIES) -> None:
        self._max_entries = max_entries
        self._answers: OrderedDict[str, str] = OrderedDict()

    def get(self, key: str) -> str | None:
        text = self._answers.get(key)
        if text is not None:
            self._answers.move_to_end(key)
        return text

    def put(self, key: str, text: str) -> None:
        self._answers[key] = text
        self._answers.move_to_end(key)
        while len(self._answers) > self._max_entries:
            self._answers.popitem(last=False)
