"""Where a workload's prefix trace is read from: a file of its recent requests in the Mooncake format (one
JSON object per request with its prompt's prefix-block hash ids, as vLLM's KV-cache events or a gateway's
request log give them), under `OPTIINFRA_PREFIX_TRACE_DIR/<customer>/<workload>.jsonl`."""

import asyncio
from collections.abc import Mapping
from pathlib import Path

from kvtier.trace import load_mooncake
from optiinfra.domain.fleet import Workload
from optiinfra.domain.resource import PrefixCacheProfile
from optiinfra.kvcache.profile import profile_prefix_cache

MAX_TRACE_REQUESTS = 20_000
"""Most recent requests replayed: about an hour of a busy service, enough for its reuse to show."""
PROFILES_KEPT = 16
"""Profiles kept in memory, by trace file version and replica count: a scan of an unchanged trace reuses its
replays (seconds of work) instead of running them again."""

_profiles: dict[tuple[str, int, int, int], PrefixCacheProfile] = {}


class PrefixTraces:
    def __init__(
        self, directory: Path | None, overrides: Mapping[tuple[str, str], Path] | None = None
    ) -> None:
        """`overrides` maps (customer, workload) to a trace file elsewhere (the embedded demo's real one)."""
        self._directory = directory
        self._overrides = dict(overrides or {})

    def path_for(self, workload: Workload) -> Path | None:
        override = self._overrides.get((workload.customer_id, workload.workload_id))
        if override is not None:
            return override
        if self._directory is None:
            return None
        return self._directory / workload.customer_id / f"{workload.workload_id}.jsonl"

    async def profile(self, workload: Workload, replicas: int = 1) -> PrefixCacheProfile | None:
        """The workload's profile over `replicas` caches, or None when it has no trace file. A malformed
        trace raises `kvtier.TraceFormatError` naming the line."""
        path = self.path_for(workload)
        if path is None or not path.is_file():
            return None

        stat = path.stat()
        key = (str(path), stat.st_mtime_ns, stat.st_size, max(1, replicas))
        if key in _profiles:
            return _profiles[key]

        def compute() -> PrefixCacheProfile:
            requests = load_mooncake(path)[-MAX_TRACE_REQUESTS:]
            return profile_prefix_cache(requests, source=str(path), replicas=max(1, replicas))

        profile = await asyncio.to_thread(compute)
        while len(_profiles) >= PROFILES_KEPT:
            _profiles.pop(next(iter(_profiles)))
        _profiles[key] = profile
        return profile
