"""Command-line options the benchmarks share."""

import argparse

from optiinfra.capacity.truth import TruthSource


def add_truth_option(parser: argparse.ArgumentParser) -> None:
    """`--truth`: what the replayed replicas behave by; read back with `TruthSource(args.truth)`."""
    parser.add_argument(
        "--truth",
        choices=[t.value for t in TruthSource],
        default=TruthSource.SILICON.value,
        help="what the replayed replicas behave by: NVIDIA's silicon-measured reference where it covers "
        "the GPU (default), or the roofline prior the planner sizes with",
    )
