"""The model against published vLLM measurements."""

import math

import pytest

from optiinfra.capacity.compare import compare_with_published, main, render_markdown
from optiinfra.capacity.published import PUBLISHED_FIGURES

GAP_LIMIT_PERCENT = 60.0


def test_comparison_covers_at_least_three_gpu_types() -> None:
    rows = compare_with_published()

    assert len(rows) == len(PUBLISHED_FIGURES)
    assert len({row.gpu for row in rows}) >= 3


def test_modeled_values_are_within_the_gap_limit_of_published_ones() -> None:
    rows = compare_with_published()
    gaps = {f"{row.gpu} {row.model} {row.metric}": round(row.gap_percent, 1) for row in rows}

    assert all(math.isfinite(row.modeled) and row.modeled > 0 for row in rows), gaps
    assert all(abs(row.gap_percent) <= GAP_LIMIT_PERCENT for row in rows), gaps


def test_every_figure_cites_where_it_came_from() -> None:
    for figure in PUBLISHED_FIGURES:
        assert figure.source.url.startswith("https://")
        assert figure.source.title and figure.source.date and figure.source.vllm_version
        assert figure.value > 0


def test_markdown_table_has_a_row_per_figure() -> None:
    table = render_markdown(compare_with_published())

    lines = table.splitlines()
    assert lines[0].startswith("| GPU | Model | Metric | Published | Modeled | Gap |")
    assert len(lines) == 2 + len(PUBLISHED_FIGURES)
    assert "~75 tok/s" in table, "approximately stated figures are marked"


def test_module_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    main()

    assert "| GPU |" in capsys.readouterr().out
