"""The sample output of `make run` in README.md, written from a real run so that it cannot drift.

`python -m optiinfra.cli.readme_sample` (or `make readme-sample`) runs the demo as `optiinfra run` does on
a throwaway stack and rewrites the block between the README's markers with what it found and saved; the
end-to-end test of the run compares its own report with that block."""

import asyncio
import sys
from pathlib import Path

BEGIN = "<!-- make-run-sample:begin (written by `make readme-sample`; checked by the end-to-end run test) -->"
END = "<!-- make-run-sample:end -->"
FENCE = "```"
README = Path(__file__).resolve().parents[2] / "README.md"
SAMPLE_PREFIXES = ("Found ", "  - [", "Savings: ")
"""The report's lines the README shows: how many recommendations, each one, and the savings."""


class MissingMarkers(ValueError):
    pass


def sample_lines(report: str) -> list[str]:
    """The lines of a `optiinfra run` report that the README shows."""
    return [line for line in report.splitlines() if line.startswith(SAMPLE_PREFIXES)]


def readme_sample(readme: str) -> list[str]:
    """The sample's lines as the README has them (inside the code fence between the markers)."""
    inside = _between_markers(readme)[1]
    lines = inside.strip("\n").splitlines()
    if len(lines) < 2 or lines[0] != FENCE or lines[-1] != FENCE:
        raise MissingMarkers(f"the sample between {BEGIN!r} and {END!r} is not one code block")
    return lines[1:-1]


def with_sample(readme: str, lines: list[str]) -> str:
    """The README with the block between its markers holding `lines`."""
    before, _, after = _between_markers(readme)
    block = "\n".join([FENCE, *lines, FENCE])
    return f"{before}{BEGIN}\n{block}\n{END}{after}"


def _between_markers(readme: str) -> tuple[str, str, str]:
    start = readme.find(BEGIN)
    end = readme.find(END, start + len(BEGIN)) if start >= 0 else -1
    if start < 0 or end < 0:
        raise MissingMarkers(f"README.md has no {BEGIN!r} ... {END!r} block")
    return readme[:start], readme[start + len(BEGIN) : end], readme[end + len(END) :]


def main(readme: Path = README) -> None:
    from optiinfra.cli.progress import LineProgress
    from optiinfra.cli.report import render_report
    from optiinfra.cli.run_fleet import run_fleet
    from optiinfra.settings import Settings

    progress = LineProgress()
    progress.stage("Loading OptiInfra")
    found = asyncio.run(run_fleet(Settings(), timeout_s=300.0, progress=progress, throwaway=True))
    lines = sample_lines(render_report(found.runs, persistent_stack=False, api_url=found.api_url))
    readme.write_text(with_sample(readme.read_text(), lines))
    progress.finish(f"Wrote the sample of `make run` into {readme}")
    sys.stdout.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
