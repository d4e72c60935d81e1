"""The feature-hashing embedder: deterministic, unit length, blind to spacing and case, close for the same
words in another order, far for other words."""

import math

import pytest

from optiinfra.vectors.hashing import DEFAULT_DIMENSIONS, HashingEmbedder, tokens

TEXT = "Workload chat-8b runs 4 replicas on g5.xlarge at 63% GPU utilization, costing $4,140 a month."


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True))


def test_tokens_are_lower_case_words_and_numbers_with_their_decimals() -> None:
    assert tokens("GPU at 63.5%, $4,140.25 and g5.xlarge") == [
        "gpu",
        "at",
        "63.5",
        "4140.25",
        "and",
        "g5",
        "xlarge",
    ]


async def test_vectors_are_deterministic_and_unit_length() -> None:
    [first] = await HashingEmbedder().embed([TEXT])
    [again] = await HashingEmbedder().embed([TEXT])  # another instance, as in another process
    assert first == again
    assert len(first) == DEFAULT_DIMENSIONS
    assert math.sqrt(sum(value * value for value in first)) == pytest.approx(1.0)


def test_spacing_and_case_do_not_matter() -> None:
    embedder = HashingEmbedder()
    reformatted = TEXT.upper().replace(" ", "  \n ")
    assert cosine(embedder.vector(TEXT), embedder.vector(reformatted)) == pytest.approx(1.0)


def test_the_same_words_in_another_order_stay_close_and_other_words_do_not() -> None:
    embedder = HashingEmbedder()
    reordered = (
        "Costing $4,140 a month, workload chat-8b runs 4 replicas on g5.xlarge at 63% GPU utilization."
    )
    unrelated = "The quarterly report lists office chairs, pencils and the lease of a parking lot."
    assert cosine(embedder.vector(TEXT), embedder.vector(reordered)) > 0.9
    assert abs(cosine(embedder.vector(TEXT), embedder.vector(unrelated))) < 0.2


def test_empty_text_is_the_zero_vector_and_dimensions_are_checked() -> None:
    assert HashingEmbedder(16).vector("  ") == [0.0] * 16
    assert HashingEmbedder(16).name == "hashing-16"
    with pytest.raises(ValueError, match="at least 2"):
        HashingEmbedder(1)
