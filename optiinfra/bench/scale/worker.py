"""A worker process of the scale benchmark: `optiinfra worker` as production runs it (its kinds and queues
from OPTIINFRA_* settings), with the analyzers swapped for constant-time stand-ins under `--stub`."""

import asyncio
import sys

from optiinfra.bench.scale.stub_analysis import StubAnalysis
from optiinfra.settings import Settings
from workers.all_in_one import run_worker


def main(argv: list[str]) -> None:
    asyncio.run(run_worker(Settings(), analysis=StubAnalysis() if "--stub" in argv else None))


if __name__ == "__main__":
    main(sys.argv[1:])
