"""README.md's sample of `make run` is a block between markers that `make readme-sample` rewrites from a real
run's report (the end-to-end run test compares its own report with it)."""

import re

import pytest

from optiinfra.cli.readme_sample import (
    BEGIN,
    END,
    README,
    MissingMarkers,
    readme_sample,
    sample_lines,
    with_sample,
)

REPORT = """OptiInfra run: 2 workload(s), each optimized jointly by the cost agents

Found 1 recommendation(s):
  - [executed] Move chat to spot: saves $1,235/month ($3,000/month -> $1,765/month), risk low, confidence 0.90
      workflow joint/demo/chat/1/cost/execute; low risk and confidence 0.90: auto-executed

Nothing to do for:
  - demo/idle: well sized already

Executed 1:
  - Move chat to spot: 2 step(s) applied and verified, $1,235/month

Waiting for approval 0:

Savings: $1,235/month executed, $0/month more waiting for approval.
This run used a throwaway stack, now stopped."""

LINES = [
    "Found 1 recommendation(s):",
    "  - [executed] Move chat to spot: saves $1,235/month ($3,000/month -> $1,765/month), risk low, "
    "confidence 0.90",
    "Savings: $1,235/month executed, $0/month more waiting for approval.",
]


def test_the_sample_is_what_was_found_each_recommendation_and_the_savings() -> None:
    assert sample_lines(REPORT) == LINES


def test_rewriting_the_block_changes_nothing_around_it() -> None:
    readme = f"# Title\n\nA run looks like this:\n\n{BEGIN}\n```\nold line\n```\n{END}\n\nMore text.\n"
    written = with_sample(readme, LINES)
    assert readme_sample(written) == LINES
    assert written.startswith("# Title\n\nA run looks like this:\n\n" + BEGIN + "\n```\nFound 1")
    assert written.endswith("```\n" + END + "\n\nMore text.\n")
    assert with_sample(written, LINES) == written


def test_a_readme_without_the_markers_says_so() -> None:
    with pytest.raises(MissingMarkers):
        readme_sample("# Title\n```\nFound 1 recommendation(s):\n```\n")
    with pytest.raises(MissingMarkers):
        with_sample(f"{BEGIN}\n```\n```\n", LINES)


def test_the_readme_holds_a_sample_of_a_run() -> None:
    lines = readme_sample(README.read_text())
    found = re.fullmatch(r"Found (\d+) recommendation\(s\):", lines[0])
    assert found is not None, lines[0]
    assert len(lines) == int(found.group(1)) + 2
    assert all(re.match(r"  - \[\w+\] .+: saves \$[\d,]+/month ", line) for line in lines[1:-1])
    assert lines[-1].startswith("Savings: $")
