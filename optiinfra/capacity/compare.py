"""How far the capacity model is from published vLLM measurements.

`python -m optiinfra.capacity.compare` prints the comparison as a markdown table.
"""

from dataclasses import dataclass

from optiinfra.capacity.published import PUBLISHED_FIGURES, Metric, PublishedFigure
from optiinfra.capacity.roofline import (
    ReplicaLoad,
    ServingConfig,
    decode_throughput_tokens_per_s,
    max_throughput_rps,
    replica_performance,
)


@dataclass(frozen=True)
class ComparisonRow:
    """One published figure next to the model's value; gap = (modeled - published) / published."""

    gpu: str
    model: str
    metric: str
    published: float
    modeled: float
    gap_percent: float
    source: str
    approximate: bool


def serving_config_for(figure: PublishedFigure) -> ServingConfig:
    """The replica the figure was measured on, as far as the source states it."""
    return ServingConfig(
        figure.gpu,
        figure.gpu_count,
        figure.model,
        max_num_batched_tokens=figure.max_num_batched_tokens,
        chunked_prefill=figure.chunked_prefill,
    )


def modeled_value(figure: PublishedFigure) -> float:
    """The model's prediction of the quantity the figure measured, under the figure's setup."""
    config = serving_config_for(figure)
    work = figure.workload
    if figure.metric is Metric.DECODE_TOKENS_PER_S:
        context = work.prompt_tokens + work.output_tokens / 2
        return decode_throughput_tokens_per_s(config, work.decode_batch or 1, context)
    if figure.metric is Metric.SATURATED_OUTPUT_TOKENS_PER_S:
        return max_throughput_rps(config, work.prompt_tokens, work.output_tokens) * work.output_tokens
    if work.arrival_rps is None:
        raise ValueError(f"{figure.metric} needs an arrival rate: {figure}")
    load = ReplicaLoad(work.arrival_rps, work.prompt_tokens, work.output_tokens)
    performance = replica_performance(config, load)
    return performance.itl_s if figure.metric is Metric.MEAN_ITL_S else performance.ttft_mean_s


def compare_with_published() -> list[ComparisonRow]:
    """Every published figure against the model."""
    rows = []
    for figure in PUBLISHED_FIGURES:
        modeled = modeled_value(figure)
        rows.append(
            ComparisonRow(
                gpu=figure.gpu.name,
                model=figure.model_as_published,
                metric=figure.metric.value,
                published=figure.value,
                modeled=modeled,
                gap_percent=(modeled - figure.value) / figure.value * 100,
                source=_cited(figure),
                approximate=figure.approximate,
            )
        )
    return rows


def _cited(figure: PublishedFigure) -> str:
    source = figure.source
    return f"[{source.title}]({source.url}), {source.date}; vLLM {source.vllm_version}"


def _shown(value: float, metric: str) -> str:
    """Latencies in milliseconds, throughputs in tokens per second."""
    if metric in (Metric.MEAN_ITL_S.value, Metric.MEAN_TTFT_S.value):
        return f"{value * 1000:.1f} ms"
    return f"{value:,.0f} tok/s"


def render_markdown(rows: list[ComparisonRow]) -> str:
    """A markdown table; approximately stated published figures carry a leading '~'."""
    lines = [
        "| GPU | Model | Metric | Published | Modeled | Gap | Source |",
        "| --- | --- | --- | ---: | ---: | ---: | --- |",
    ]
    for row in rows:
        published = ("~" if row.approximate else "") + _shown(row.published, row.metric)
        metric = row.metric.replace(" (s)", "")
        lines.append(
            f"| {row.gpu} | {row.model} | {metric} | {published} | {_shown(row.modeled, row.metric)} "
            f"| {row.gap_percent:+.0f}% | {row.source} |"
        )
    return "\n".join(lines)


def main() -> None:
    print(render_markdown(compare_with_published()))


if __name__ == "__main__":
    main()
