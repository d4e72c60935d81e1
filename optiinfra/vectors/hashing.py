"""A deterministic embedder that needs no model: feature hashing of word and character n-grams.

Each text becomes a bag of features (words, word pairs, and the 3- to 5-character pieces of each word),
each feature hashed with a fixed key into one of `dimensions` buckets with a sign, and the vector is
L2-normalised. Texts that share most of their words score a cosine similarity near 1 whatever their
spacing, case or word order; texts about other things share few buckets and score near 0. It measures
overlap of wording, not meaning: a paraphrase in other words is not recognised."""

import hashlib
import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterator, Sequence

DEFAULT_DIMENSIONS = 384
CHAR_NGRAM_SIZES = (3, 4, 5)
# Word pairs carry some word order; weighted below single words so reordering costs little.
WORD_PAIR_WEIGHT = 0.5
CHAR_NGRAM_WEIGHT = 0.25

_TOKEN = re.compile(r"[^\W_]+(?:[.,][0-9]+)*", re.UNICODE)


class HashingEmbedder:
    def __init__(self, dimensions: int = DEFAULT_DIMENSIONS) -> None:
        if dimensions < 2:
            raise ValueError("dimensions must be at least 2")
        self._dimensions = dimensions

    @property
    def name(self) -> str:
        return f"hashing-{self._dimensions}"

    @property
    def dimensions(self) -> int:
        return self._dimensions

    async def embed(self, texts: Sequence[str]) -> list[list[float]]:
        return [self.vector(text) for text in texts]

    def vector(self, text: str) -> list[float]:
        values = [0.0] * self._dimensions
        for feature, weight in _features(text).items():
            bucket, sign = self._bucket(feature)
            values[bucket] += sign * weight
        norm = math.sqrt(sum(value * value for value in values))
        return [value / norm for value in values] if norm else values

    async def aclose(self) -> None:
        return None

    def _bucket(self, feature: str) -> tuple[int, float]:
        # A keyed hash, not Python's hash(): the same text must land in the same buckets in every process.
        digest = int.from_bytes(hashlib.blake2b(feature.encode(), digest_size=8).digest(), "big")
        return digest % self._dimensions, 1.0 if (digest >> 63) & 1 else -1.0


def tokens(text: str) -> list[str]:
    """Lower-case words and numbers (a number keeps its decimal point and thousands separators)."""
    return [match.group(0).replace(",", "") for match in _TOKEN.finditer(text.lower())]


def _features(text: str) -> dict[str, float]:
    words = tokens(text)
    features: defaultdict[str, float] = defaultdict(float)
    for word in words:
        features[f"w:{word}"] += 1.0
        for piece in _char_ngrams(word):
            features[f"c:{piece}"] += CHAR_NGRAM_WEIGHT
    for first, second in itertools.pairwise(words):
        features[f"p:{first} {second}"] += WORD_PAIR_WEIGHT
    return features


def _char_ngrams(word: str) -> Iterator[str]:
    marked = f"<{word}>"
    for size in CHAR_NGRAM_SIZES:
        for start in range(len(marked) - size + 1):
            yield marked[start : start + size]
