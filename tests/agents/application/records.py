"""Hand-built tier-1 records for the Application agent's analyzer tests."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from optiinfra.application.model_prices import ModelPrice
from optiinfra.privacy.records import QualityComparison, QualityVerdict, RequestError, TokenRecord

START = datetime(2026, 3, 2, 9, tzinfo=UTC)


def records(
    shapes: Sequence[tuple[int, int]],
    *,
    request_type: str = "chat",
    model: str = "gpt-4o",
    step_s: float = 60.0,
    offset_s: float = 0.0,
    errors: int = 0,
) -> list[TokenRecord]:
    """One record per (context, generated) shape, `step_s` apart from START + `offset_s`; the first
    `errors` of them failed with a timeout."""
    return [
        TokenRecord(
            at=START + timedelta(seconds=offset_s + index * step_s),
            model=model,
            request_type=request_type,
            context_tokens=context,
            generated_tokens=generated,
            error=RequestError.TIMEOUT if index < errors else None,
        )
        for index, (context, generated) in enumerate(shapes)
    ]


def price(
    name: str,
    input_usd: float,
    output_usd: float,
    window: int,
    *,
    cached_usd: float | None = None,
    capacity_model: str | None = None,
) -> ModelPrice:
    return ModelPrice(
        name=name,
        provider="test",
        input_usd_per_1m=input_usd,
        cached_input_usd_per_1m=cached_usd,
        output_usd_per_1m=output_usd,
        max_context_tokens=window,
        capacity_model=capacity_model,
    )


def comparisons(
    worse: int,
    no_worse: int,
    *,
    request_type: str = "chat",
    cheap_model: str = "small",
    context_tokens: int = 500,
) -> list[QualityComparison]:
    """A routing quality sample: `worse` cheaper answers judged worse, then `no_worse` judged no worse."""
    verdicts = [QualityVerdict.WORSE] * worse + [QualityVerdict.NO_WORSE] * no_worse
    return [
        QualityComparison(
            at=START + timedelta(minutes=index),
            request_type=request_type,
            context_tokens=context_tokens,
            cheap_model=cheap_model,
            verdict=verdict,
        )
        for index, verdict in enumerate(verdicts)
    ]
