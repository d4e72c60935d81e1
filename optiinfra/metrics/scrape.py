"""Reads one vLLM replica's `/metrics` page into a `VllmSample` of cumulative values.

The page is parsed with prometheus_client's own parser, then reduced to the families named in
`vllm_names`: old names (from vLLM versions before a rename) are mapped to the current ones, a current
name wins when a version exposes both, and the series of one family are added up across their labels
(engines behind one endpoint, say), except the KV cache fraction, which is averaged. Anything that
cannot be trusted -- text the parser rejects, a histogram without its +Inf bucket or with falling
bucket counts, a negative counter, a page with no vLLM metric -- raises `MetricsParseError` rather
than giving numbers that look valid.
"""

from __future__ import annotations

import itertools
import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urlsplit

import httpx
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample
from pydantic import BaseModel, ConfigDict

from optiinfra.metrics import vllm_names as names

_KNOWN = names.GAUGES | names.COUNTERS | names.HISTOGRAMS
_SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")


class ScrapeError(Exception):
    """The replica's metrics could not be read (connection, HTTP status, or content)."""


class MetricsParseError(ScrapeError):
    """The page is not Prometheus text, or not vLLM metrics that can be trusted."""


class HistogramSnapshot(BaseModel):
    """Cumulative bucket counts: `cumulative[i]` counts observations <= `bounds[i]`; the last is +Inf."""

    model_config = ConfigDict(frozen=True)

    bounds: tuple[float, ...]
    cumulative: tuple[float, ...]
    sum: float

    @property
    def count(self) -> float:
        return self.cumulative[-1]


class VllmSample(BaseModel):
    """Everything one scrape of one replica gave, as cumulative values under the current names.

    Counters are keyed by family name without `_total`; `vllm:request_success` is also split by
    finished reason. `started_at` is the counters' `_created` time (the process start) when exposed."""

    model_config = ConfigDict(frozen=True)

    at: datetime
    replica: str
    model_name: str | None
    started_at: float | None
    counters: dict[str, float]
    finished_by_reason: dict[str, float]
    gauges: dict[str, float]
    histograms: dict[str, HistogramSnapshot]
    legacy_names: tuple[str, ...] = ()
    kv_cache_tokens: int | None = None
    """The KV cache's size in tokens, from `vllm:cache_config_info`, summed over engines; None when the
    page does not say (older vLLM, or blocks not yet sized)."""


async def scrape_vllm(
    url: str, client: httpx.AsyncClient, *, replica: str | None = None, timeout_seconds: float = 10.0
) -> VllmSample:
    """GET a replica's metrics URL (`http://host:port/metrics`); `replica` defaults to host:port."""
    try:
        response = await client.get(url, timeout=timeout_seconds)
    except httpx.HTTPError as exc:
        raise ScrapeError(f"scraping {url} failed: {exc!r}") from exc
    if response.status_code != httpx.codes.OK:
        raise ScrapeError(f"scraping {url} answered HTTP {response.status_code}")
    return parse_vllm_metrics(response.text, replica=replica or _replica_of(url), at=datetime.now(UTC))


def parse_vllm_metrics(text: str, *, replica: str, at: datetime) -> VllmSample:
    """Parse a `/metrics` body taken at `at`."""
    parsed = _parse(text)
    collected = _collect(parsed)
    sources = _choose_sources(collected)
    if not sources:
        raise MetricsParseError(f"no vLLM metrics in the page of {replica}")
    builder = _SampleBuilder()
    for canonical, source in sources.items():
        builder.add(canonical, collected[source])
    return VllmSample(
        at=at if at.tzinfo else at.replace(tzinfo=UTC),
        replica=replica,
        model_name=builder.model_name(replica),
        started_at=min(builder.created) if builder.created else None,
        counters=builder.counters,
        finished_by_reason=builder.finished,
        gauges=builder.gauges(),
        histograms=builder.histograms(),
        legacy_names=tuple(sorted(source for canonical, source in sources.items() if source != canonical)),
        kv_cache_tokens=_kv_cache_tokens(parsed),
    )


def _kv_cache_tokens(samples: Iterable[Sample]) -> int | None:
    """Tokens the engines' KV caches hold, from their cache settings: `kv_cache_size_tokens` where given,
    else `num_gpu_blocks` x `block_size`."""
    total, seen = 0, False
    for sample in samples:
        if sample.name != names.CACHE_CONFIG_INFO:
            continue
        labels = sample.labels
        tokens = _whole(labels.get("kv_cache_size_tokens"))
        if tokens is None:
            blocks, size = _whole(labels.get("num_gpu_blocks")), _whole(labels.get("block_size"))
            tokens = blocks * size if blocks is not None and size is not None else None
        if tokens is not None:
            total, seen = total + tokens, True
    return total if seen else None


def _whole(text: str | None) -> int | None:
    """A positive whole number written by vLLM ("512", "512.0"); None for "None" and anything else."""
    try:
        value = float(text) if text is not None else math.nan
    except ValueError:
        return None
    return int(value) if math.isfinite(value) and value > 0 and value == int(value) else None


def _parse(text: str) -> list[Sample]:
    try:
        return [sample for family in text_string_to_metric_families(text) for sample in family.samples]
    except Exception as exc:  # the parser raises ValueError, IndexError, ... on bad input
        raise MetricsParseError(f"not Prometheus text: {exc}") from exc


@dataclass
class _Part:
    kind: str  # one of _SUFFIXES, or "" for a plain (gauge) sample
    labels: dict[str, str]
    value: float


def _collect(samples: Iterable[Sample]) -> dict[str, list[_Part]]:
    """Group samples by the family name they belong to, judged by suffix so untyped text works too."""
    collected: dict[str, list[_Part]] = defaultdict(list)
    for sample in samples:
        base, kind = sample.name, ""
        for suffix in _SUFFIXES:
            if sample.name.endswith(suffix) and names.canonical_name(sample.name[: -len(suffix)]) in _KNOWN:
                base, kind = sample.name[: -len(suffix)], suffix
                break
        if names.canonical_name(base) in _KNOWN:
            collected[base].append(_Part(kind, dict(sample.labels), float(sample.value)))
    return collected


def _choose_sources(collected: dict[str, list[_Part]]) -> dict[str, str]:
    """canonical name -> the exposed name to read it from; the current name wins over an old one."""
    sources: dict[str, str] = {}
    for exposed in collected:
        canonical = names.canonical_name(exposed)
        if canonical not in sources or exposed == canonical:
            sources[canonical] = exposed
    return sources


@dataclass
class _SampleBuilder:
    counters: dict[str, float] = field(default_factory=dict)
    finished: dict[str, float] = field(default_factory=dict)
    created: list[float] = field(default_factory=list)
    models: set[str] = field(default_factory=set)
    _gauge_values: dict[str, list[float]] = field(default_factory=dict)
    _buckets: dict[str, dict[float, float]] = field(default_factory=dict)
    _sums: dict[str, float] = field(default_factory=dict)
    _counts: dict[str, float] = field(default_factory=dict)

    def add(self, canonical: str, parts: list[_Part]) -> None:
        for part in parts:
            if not math.isfinite(part.value):
                raise MetricsParseError(f"{canonical} has a non-finite value {part.value}")
            if names.LABEL_MODEL_NAME in part.labels:
                self.models.add(part.labels[names.LABEL_MODEL_NAME])
            if part.kind == "_created":
                self.created.append(part.value)
            elif canonical in names.GAUGES and part.kind == "":
                self._gauge_values.setdefault(canonical, []).append(part.value)
            elif canonical in names.COUNTERS and part.kind == "_total":
                self._add_counter(canonical, part)
            elif canonical in names.HISTOGRAMS:
                self._add_histogram_part(canonical, part)

    def _add_counter(self, canonical: str, part: _Part) -> None:
        if part.value < 0:
            raise MetricsParseError(f"counter {canonical} is negative ({part.value})")
        self.counters[canonical] = self.counters.get(canonical, 0.0) + part.value
        if canonical == names.REQUEST_SUCCESS:
            reason = part.labels.get(names.LABEL_FINISHED_REASON, "unknown")
            self.finished[reason] = self.finished.get(reason, 0.0) + part.value

    def _add_histogram_part(self, canonical: str, part: _Part) -> None:
        if part.kind == "_bucket":
            bound = _bucket_bound(canonical, part.labels)
            buckets = self._buckets.setdefault(canonical, {})
            buckets[bound] = buckets.get(bound, 0.0) + part.value
        elif part.kind == "_sum":
            self._sums[canonical] = self._sums.get(canonical, 0.0) + part.value
        elif part.kind == "_count":
            self._counts[canonical] = self._counts.get(canonical, 0.0) + part.value

    def model_name(self, replica: str) -> str | None:
        if len(self.models) > 1:
            raise MetricsParseError(f"{replica} reports several models: {sorted(self.models)}")
        return next(iter(self.models), None)

    def gauges(self) -> dict[str, float]:
        return {
            name: (sum(values) / len(values) if name in names.AVERAGED_GAUGES else sum(values))
            for name, values in self._gauge_values.items()
        }

    def histograms(self) -> dict[str, HistogramSnapshot]:
        return {name: self._histogram(name, buckets) for name, buckets in self._buckets.items()}

    def _histogram(self, name: str, buckets: dict[float, float]) -> HistogramSnapshot:
        bounds = sorted(buckets)
        if not bounds or not math.isinf(bounds[-1]):
            raise MetricsParseError(f"histogram {name} has no +Inf bucket")
        cumulative = [buckets[bound] for bound in bounds]
        if any(later < earlier for earlier, later in itertools.pairwise(cumulative)):
            raise MetricsParseError(f"histogram {name} has bucket counts that fall as the bound rises")
        if cumulative[0] < 0:
            raise MetricsParseError(f"histogram {name} has a negative bucket count")
        count = self._counts.get(name, cumulative[-1])
        if not math.isclose(count, cumulative[-1], rel_tol=1e-9, abs_tol=1e-9):
            raise MetricsParseError(f"histogram {name}: _count {count} differs from the +Inf bucket")
        return HistogramSnapshot(
            bounds=tuple(bounds[:-1]), cumulative=tuple(cumulative), sum=self._sums.get(name, 0.0)
        )


def _bucket_bound(name: str, labels: dict[str, str]) -> float:
    try:
        bound = float(labels["le"])
    except (KeyError, ValueError) as exc:
        raise MetricsParseError(f"histogram {name} has a bucket without a numeric le label") from exc
    if math.isnan(bound):
        raise MetricsParseError(f"histogram {name} has a NaN le label")
    return bound


def _replica_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.netloc or url
