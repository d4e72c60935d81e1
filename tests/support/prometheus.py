"""A real Prometheus server (Debian's `prometheus`) for the `real_prometheus` tier: a generated config
that scrapes the given targets every second (and evaluates the given rule files as often), its TSDB in
the test's temp dir, a free loopback port, and always stopped. Without the binary the test fails; it never
skips."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.support.processes import free_port, stop_process_group, wait_until_ready

SCRAPE_INTERVAL_S = 1


def prometheus_binary() -> str:
    found = shutil.which("prometheus")
    if found is None:
        pytest.fail("the real-Prometheus tier needs Debian's prometheus (apt-get install prometheus)")
    return found


def _config(jobs: Mapping[str, list[str]], rule_files: Sequence[Path]) -> str:
    lines = [
        "global:",
        f"  scrape_interval: {SCRAPE_INTERVAL_S}s",
        f"  scrape_timeout: {SCRAPE_INTERVAL_S}s",
        f"  evaluation_interval: {SCRAPE_INTERVAL_S}s",
    ]
    if rule_files:
        lines += ["rule_files:"] + [f"  - '{path}'" for path in rule_files]
    lines += ["scrape_configs:"]
    for job, targets in jobs.items():
        lines += [
            f"  - job_name: {job}",
            "    static_configs:",
            "      - targets: [" + ", ".join(f"'{target}'" for target in targets) + "]",
        ]
    return "\n".join(lines) + "\n"


@contextmanager
def running_prometheus(
    workdir: Path, jobs: Mapping[str, list[str]], *, rule_files: Sequence[Path] = ()
) -> Iterator[str]:
    """Prometheus scraping `jobs` (job name -> host:port targets), evaluating the rules of `rule_files`
    every scrape interval; yields its base URL. A rule file Prometheus refuses fails its start."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(_config(jobs, rule_files))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [
            prometheus_binary(),
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=workdir,
        start_new_session=True,
    )
    log.close()
    try:
        wait_until_ready(
            process,
            f"{url}/-/ready",
            60,
            name="prometheus",
            log_tail=lambda: (workdir / "prometheus.log").read_text(errors="replace")[-2000:],
        )
        yield url
    finally:
        stop_process_group(process)


def scraped_since(url: str, job: str, moment: float) -> bool:
    """Whether every target of `job` has been scraped after `moment` (Unix seconds)."""
    response = httpx.get(f"{url}/api/v1/targets", params={"state": "active"}, timeout=5.0)
    response.raise_for_status()
    targets = [t for t in response.json()["data"]["activeTargets"] if t["labels"].get("job") == job]
    return bool(targets) and all(t["health"] == "up" and _unix(t["lastScrape"]) > moment for t in targets)


_RFC3339 = re.compile(r"^(.+T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$")


def _unix(stamp: str) -> float:
    """Prometheus's RFC 3339 time with nanoseconds, as Unix seconds (to the microsecond)."""
    found = _RFC3339.match(stamp)
    if found is None:
        raise ValueError(f"not an RFC 3339 time: {stamp!r}")
    whole, fraction, zone = found.groups()
    text = f"{whole}.{(fraction or '0')[:6]}{'+00:00' if zone == 'Z' else zone}"
    return datetime.fromisoformat(text).timestamp()
