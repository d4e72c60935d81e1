"""A workload is sized on its own request lengths: the same model and objective need different fleets for
long prompts than for short ones, and a workload that reports nothing falls back to the default mix."""

from datetime import UTC, datetime, timedelta

from agents.cost.sizing import RequestShape, cheapest_sizing, type_capacities
from agents.request_shape import measured_token_shape, workload_token_shape
from optiinfra.capacity.shape import ShapeSource
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.performance import WorkloadWindow

MODEL = "meta-llama/Llama-3.1-8B-Instruct"
START = datetime(2026, 11, 1, tzinfo=UTC)


def _windows(prompt: float, p95: float, output: float) -> list[WorkloadWindow]:
    return [
        WorkloadWindow(
            start=START + timedelta(minutes=10 * i),
            seconds=600,
            replicas=2,
            requests=600,
            request_rate=1.0,
            prompt_tokens=600 * prompt,
            generation_tokens=600 * output,
            errors=0,
            preemptions=0,
            prompt_tokens_p95=p95,
            prompt_tokens_p99=p95 * 1.2,
        )
        for i in range(36)
    ]


def _sizing_shape(windows: list[WorkloadWindow]) -> RequestShape:
    tokens = workload_token_shape(windows)
    return RequestShape(
        mean_prompt_tokens=tokens.mean_prompt_tokens,
        mean_output_tokens=tokens.mean_output_tokens,
        p95_prompt_tokens=tokens.p95_prompt_tokens,
        p99_prompt_tokens=tokens.p99_prompt_tokens,
        ttft_p95_slo_s=2.0,
        itl_p95_slo_s=0.25,
        shape_source=tokens.source,
    )


def test_histograms_give_the_prompt_tail_and_say_so() -> None:
    shape = measured_token_shape(_windows(3000, 7000, 150))
    assert shape is not None
    assert (shape.mean_prompt_tokens, shape.p95_prompt_tokens, shape.mean_output_tokens) == (3000, 7000, 150)
    assert shape.source is ShapeSource.HISTOGRAMS
    assert workload_token_shape([]).source is ShapeSource.DEFAULT_MIX


def test_long_prompts_are_sized_differently_from_short_ones_on_the_same_model() -> None:
    catalog = PriceCatalog.load_default()
    candidates = [catalog.get(name, "us-east-1") for name in ("g5.xlarge", "g6e.xlarge", "p5.48xlarge")]
    long = _sizing_shape(_windows(3000, 7000, 150))
    short = _sizing_shape(_windows(300, 700, 150))
    long_capacity = {c.instance_type.name: c for c in type_capacities(candidates, MODEL, long)}
    short_capacity = {c.instance_type.name: c for c in type_capacities(candidates, MODEL, short)}
    assert short_capacity["g6e.xlarge"].capacity_rps > 2 * long_capacity["g6e.xlarge"].capacity_rps
    assert long_capacity["g6e.xlarge"].capacity_source == "silicon"
    long_plan = cheapest_sizing(10.0, 0.25, long_capacity.values())
    short_plan = cheapest_sizing(10.0, 0.25, short_capacity.values())
    assert long_plan is not None and short_plan is not None
    assert long_plan.monthly_on_demand_usd > short_plan.monthly_on_demand_usd
