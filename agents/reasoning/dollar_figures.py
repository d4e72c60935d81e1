"""Dollar amounts written in prose, and whether each is one of a known set of amounts, so a model's
explanation can be held to the numbers it was given."""

import re
from collections.abc import Collection
from dataclasses import dataclass

# "$1,997", "$1997.43", "$ 3.2k", "$1.5M"; the suffix must not run into a longer word ("$5 monthly").
_DOLLAR_FIGURE = re.compile(r"\$\s?(\d[\d,]*(?:\.\d+)?)(?:\s?([kKmM])(?![A-Za-z]))?")
_SCALE = {"": 1.0, "k": 1e3, "m": 1e6}


@dataclass(frozen=True)
class WrittenAmount:
    text: str
    value: float
    resolution: float  # half the value of the last digit written: how far rounding may have moved it

    def matches(self, amount: float) -> bool:
        return abs(abs(amount) - self.value) <= self.resolution + 1e-9


def written_amounts(text: str) -> list[WrittenAmount]:
    amounts = []
    for match in _DOLLAR_FIGURE.finditer(text):
        digits, suffix = match.group(1).replace(",", "").rstrip("."), (match.group(2) or "").lower()
        decimals = len(digits.partition(".")[2])
        scale = _SCALE[suffix]
        amounts.append(
            WrittenAmount(
                text=match.group(0), value=float(digits) * scale, resolution=0.5 * 10**-decimals * scale
            )
        )
    return amounts


def unsupported_figures(text: str, known_amounts: Collection[float]) -> list[str]:
    """The dollar figures in `text` that are none of `known_amounts`, allowing for the rounding shown."""
    return [
        written.text
        for written in written_amounts(text)
        if not any(written.matches(amount) for amount in known_amounts)
    ]
