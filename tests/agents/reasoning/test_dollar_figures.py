"""Dollar figures in prose, matched against known amounts at the precision written."""

import pytest

from agents.reasoning.dollar_figures import unsupported_figures, written_amounts

KNOWN = [1997.43, 4140.0, 0.0]


def test_reads_separators_decimals_and_suffixes() -> None:
    text = "Saves $1,997.43 ($ 2k rounded) of $4.14K; $1.5M would be a lot, $5 monthly is not."
    assert [(w.text, w.value) for w in written_amounts(text)] == [
        ("$1,997.43", 1997.43),
        ("$ 2k", 2000.0),
        ("$4.14K", 4140.0),
        ("$1.5M", 1_500_000.0),
        ("$5", 5.0),
    ]


@pytest.mark.parametrize(
    "text",
    ["$1,997.43", "$1,997", "$1997.4", "$2k", "$4,140", "$4.14k", "$4.1k", "$0", "no figures at all"],
)
def test_faithful_roundings_are_supported(text: str) -> None:
    assert unsupported_figures(text, KNOWN) == []


@pytest.mark.parametrize(
    ("text", "unsupported"),
    [
        ("$1,998", ["$1,998"]),
        ("$1,997.50", ["$1,997.50"]),
        ("$3k of $4,140", ["$3k"]),
        ("$23,969 a year", ["$23,969"]),
    ],
)
def test_changed_or_new_figures_are_reported(text: str, unsupported: list[str]) -> None:
    assert unsupported_figures(text, KNOWN) == unsupported
