"""The numbers a learned outcome is found by: a workload's context when a change was proposed
(`workload_context`), the proposal's own figures (`ProposalFigures`), and the fixed-length vector built
from both (`outcome_vector`).

The vector is structured, not an embedding of text, and the same inputs always give the same vector. It
is compared by cosine similarity. So that cosine similarity reads as "how alike, feature by feature", each
numeric feature is first placed on its range as p in [0, 1] (log or linear, clamped) and then written as
the pair (w·cos(p·π), w·sin(p·π)): a pair has length w whatever the value, two equal values give w², the
two ends of the range -w², and the vectors' cosine similarity is the w²-weighted mean of these per-feature
agreements (over the features both vectors have). A feature the context lacks is written (0, 0): it
agrees with nothing. Plain centred values would let features near the middle of their range count for
almost nothing, and shared constants pull every similarity up.

Layout (`VECTOR_DIMENSION` = 54 slots; `VECTOR_LAYOUT_VERSION` changes whenever it does):

| slots | feature | range of p: 0 → 1 | w |
|---|---|---|---|
| 0-3 | agent, one-hot in `AgentKind` order (cost, performance, resource, application) | `ONE_HOT` or 0 | |
| 4-15 | recommendation type, one-hot in `RecommendationType` order | `ONE_HOT` or 0 | |
| 16-17 | `replicas` | log, 1 → 64 | 1 |
| 18-19 | `gpu_memory_per_gpu_gib` | log, 16 → 192 GiB | 1 |
| 20-21 | `gpus_per_replica` | log, 1 → 8 | 1 |
| 22-23 | `hourly_cost_usd` (the whole workload) | log, $1 → $1,000 | 1 |
| 24-25 | `gpu_utilization_mean` (percent) | linear, 0 → 100 | 1 |
| 26-27 | `gpu_utilization_p95` (percent) | linear, 0 → 100 | 1 |
| 28-29 | `gpu_memory_utilization_p95` (percent) | linear, 0 → 100 | 1 |
| 30-31 | `request_rate` (requests/s, all replicas) | log, 0.1 → 1,000 | 1 |
| 32-33 | `ttft_slo_ratio` (measured p95 TTFT over its objective) | log, 0.25 → 4 | 1 |
| 34-35 | `kv_usage_max` (0-1) | linear, 0 → 1 | 1 |
| 36-37 | `error_rate` (failed share of requests) | linear, 0 → 5% | 1 |
| 38-39 | `spot_share` (share of running instances on spot) | linear, 0 → 1 | 1 |
| 40-41 | `on_kubernetes` (0/1) | 0 or 1 | `FLAG` |
| 42-43 | `stateless` (0/1) | 0 or 1 | `FLAG` |
| 44-45 | `critical` (0/1) | 0 or 1 | `FLAG` |
| 46-47 | proposal: monthly savings over current monthly cost | linear, 0 → 1 | 1 |
| 48-49 | proposal: monthly savings (USD) | log, $10 → $100,000 | 1 |
| 50-51 | proposal: monthly cost increase over current monthly cost | linear, 0 → 1 | 1 |
| 52-53 | proposal: risk rank (low 0, medium 1, high 2) | linear, 0 → 2 | 1 |

Slots 16-45 read the context; 46-53 the proposal's figures (the ratios are missing where the current cost
is unknown). The one-hot blocks are small: the store compares only outcomes of the same agent and type,
where they are a shared constant."""

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta

from optiinfra.domain.enums import AgentKind, PurchaseOption, RecommendationType, RiskLevel, UtilizationMetric
from optiinfra.domain.fleet import InstanceType, WorkloadSnapshot
from optiinfra.domain.learning import LearnedOutcome
from optiinfra.domain.performance import WorkloadWindow
from optiinfra.domain.recommendation import Proposal

VECTOR_LAYOUT_VERSION = 1
HOURS_PER_MONTH = 730.0
ONE_HOT = 0.5
"""The value of the agent's and the type's slot in the one-hot blocks."""
FLAG = 0.5
"""The weight of the yes/no features."""
RECENT = timedelta(days=1)
"""How far back from the newest latency window the serving figures are read."""

# Context keys (workload features).
REPLICAS = "replicas"
GPU_MEMORY_PER_GPU_GIB = "gpu_memory_per_gpu_gib"
GPUS_PER_REPLICA = "gpus_per_replica"
HOURLY_COST_USD = "hourly_cost_usd"
GPU_UTILIZATION_MEAN = "gpu_utilization_mean"
GPU_UTILIZATION_P95 = "gpu_utilization_p95"
GPU_MEMORY_UTILIZATION_P95 = "gpu_memory_utilization_p95"
REQUEST_RATE = "request_rate"
TTFT_P95_S = "ttft_p95_s"
TTFT_SLO_RATIO = "ttft_slo_ratio"
KV_USAGE_MAX = "kv_usage_max"
ERROR_RATE = "error_rate"
SPOT_SHARE = "spot_share"
ON_KUBERNETES = "on_kubernetes"
STATELESS = "stateless"
CRITICAL = "critical"

# Context keys a learned outcome adds for the proposal figures it has no fields for.
PROPOSAL_CURRENT_MONTHLY_COST_USD = "proposal_current_monthly_cost_usd"
PROPOSAL_MONTHLY_COST_INCREASE_USD = "proposal_monthly_cost_increase_usd"
PROPOSAL_RISK_RANK = "proposal_risk_rank"


@dataclass(frozen=True)
class ProposalFigures:
    """What a proposal promised, as the vector's last slots read it."""

    monthly_savings_usd: float
    current_monthly_cost_usd: float | None
    monthly_cost_increase_usd: float = 0.0
    risk_rank: int | None = None

    @classmethod
    def of(cls, proposal: Proposal) -> "ProposalFigures":
        return cls(
            monthly_savings_usd=proposal.estimated_monthly_savings_usd,
            current_monthly_cost_usd=proposal.current_monthly_cost_usd,
            monthly_cost_increase_usd=proposal.monthly_cost_increase_usd,
            risk_rank=proposal.risk_level.rank,
        )

    @classmethod
    def recorded(cls, monthly_savings_usd: float, context: Mapping[str, float]) -> "ProposalFigures":
        """The figures of a learned outcome: its predicted savings and what `as_context` left in its
        context; the current cost falls back to the workload's hourly cost over a month."""
        current = context.get(PROPOSAL_CURRENT_MONTHLY_COST_USD)
        if current is None and HOURLY_COST_USD in context:
            current = context[HOURLY_COST_USD] * HOURS_PER_MONTH
        risk = context.get(PROPOSAL_RISK_RANK)
        return cls(
            monthly_savings_usd=monthly_savings_usd,
            current_monthly_cost_usd=current,
            monthly_cost_increase_usd=context.get(PROPOSAL_MONTHLY_COST_INCREASE_USD, 0.0),
            risk_rank=round(risk) if risk is not None else None,
        )

    def as_context(self) -> dict[str, float]:
        """The figures a learned outcome keeps in its context (its savings have a field of their own)."""
        context = {PROPOSAL_MONTHLY_COST_INCREASE_USD: self.monthly_cost_increase_usd}
        if self.current_monthly_cost_usd is not None:
            context[PROPOSAL_CURRENT_MONTHLY_COST_USD] = self.current_monthly_cost_usd
        if self.risk_rank is not None:
            context[PROPOSAL_RISK_RANK] = float(self.risk_rank)
        return context

    @property
    def savings_ratio(self) -> float | None:
        if not self.current_monthly_cost_usd or self.current_monthly_cost_usd <= 0:
            return None
        return self.monthly_savings_usd / self.current_monthly_cost_usd

    @property
    def cost_increase_ratio(self) -> float | None:
        if not self.current_monthly_cost_usd or self.current_monthly_cost_usd <= 0:
            return None
        return self.monthly_cost_increase_usd / self.current_monthly_cost_usd


# ---- the workload's context ------------------------------------------------------------------------------


def workload_context(snapshot: WorkloadSnapshot) -> dict[str, float]:
    """The workload's features at proposal time, in the context keys above; a key is left out when the
    snapshot cannot tell it."""
    context: dict[str, float] = {}
    workload = snapshot.workload
    context[ON_KUBERNETES] = float(workload.on_kubernetes)
    context[STATELESS] = float(workload.stateless)
    context[CRITICAL] = float(workload.critical)

    running = [i for i in snapshot.instances if i.state == "running"]
    deployment = snapshot.deployment
    replica_types: list[InstanceType] = []
    if deployment is not None:
        context[REPLICAS] = float(deployment.replicas)
        node_type = _instance_type(snapshot, deployment.node_instance_type)
        if node_type is not None:
            gpus = deployment.gpus_per_replica or node_type.gpu_count
            share = min(1.0, gpus / node_type.gpu_count) if node_type.gpu_count else 1.0
            context[HOURLY_COST_USD] = deployment.replicas * node_type.on_demand_hourly_usd * share
            replica_types = [node_type]
        if deployment.gpus_per_replica:
            context[GPUS_PER_REPLICA] = float(deployment.gpus_per_replica)
    elif snapshot.instances:
        context[REPLICAS] = float(len(running))
    if running:
        types = [_instance_type(snapshot, i.instance_type) for i in running]
        priced = [(i, t) for i, t in zip(running, types, strict=True) if t is not None]
        if deployment is None and len(priced) == len(running):
            context[HOURLY_COST_USD] = sum(t.hourly_price(i.lifecycle) for i, t in priced)
        if not replica_types:
            replica_types = [t for _, t in priced]
        context[SPOT_SHARE] = sum(i.lifecycle is PurchaseOption.SPOT for i in running) / len(running)
    if replica_types:
        context[GPU_MEMORY_PER_GPU_GIB] = _mean([t.gpu_memory_per_gpu_gib for t in replica_types])
        if GPUS_PER_REPLICA not in context:
            context[GPUS_PER_REPLICA] = _mean([float(t.gpu_count) for t in replica_types])

    gpu = _pooled(snapshot, [i.instance_id for i in running], UtilizationMetric.GPU_UTILIZATION)
    if gpu:
        context[GPU_UTILIZATION_MEAN] = _mean(gpu)
        context[GPU_UTILIZATION_P95] = _percentile(gpu, 0.95)
    memory = _pooled(snapshot, [i.instance_id for i in running], UtilizationMetric.GPU_MEMORY_UTILIZATION)
    if memory:
        context[GPU_MEMORY_UTILIZATION_P95] = _percentile(memory, 0.95)

    context.update(_serving(_recent(snapshot.windows), workload.slo_ttft_p95_s))
    return context


def _instance_type(snapshot: WorkloadSnapshot, name: str | None) -> InstanceType | None:
    if name is None:
        return None
    return snapshot.instance_types.get(name) or next(
        (t for t in snapshot.candidate_types if t.name == name), None
    )


def _pooled(
    snapshot: WorkloadSnapshot, instance_ids: Sequence[str], metric: UtilizationMetric
) -> list[float]:
    values: list[float] = []
    for instance_id in instance_ids:
        series = snapshot.series_for(instance_id, metric)
        if series is not None:
            values.extend(series.values)
    return values


def _recent(windows: Sequence[WorkloadWindow]) -> list[WorkloadWindow]:
    if not windows:
        return []
    newest = max(w.end for w in windows)
    return [w for w in windows if w.end > newest - RECENT]


def _serving(windows: Sequence[WorkloadWindow], slo_ttft_p95_s: float | None) -> dict[str, float]:
    context: dict[str, float] = {}
    served = [w for w in windows if w.replicas > 0]
    if not served:
        return context
    context[REQUEST_RATE] = _mean([w.request_rate for w in served])
    context[KV_USAGE_MAX] = max(w.kv_usage_max for w in served)
    finished = sum(w.requests + w.errors for w in served)
    if finished > 0:
        context[ERROR_RATE] = sum(w.errors for w in served) / finished
    ttft = [w.ttft_p95 for w in served if w.ttft_p95 is not None]
    if ttft:
        context[TTFT_P95_S] = _percentile(ttft, 0.95)
        if slo_ttft_p95_s:
            context[TTFT_SLO_RATIO] = context[TTFT_P95_S] / slo_ttft_p95_s
    return context


def _mean(values: Sequence[float]) -> float:
    return math.fsum(values) / len(values)


def _percentile(values: Sequence[float], q: float) -> float:
    """Linear-interpolated quantile (q in 0-1) of non-empty `values`."""
    ordered = sorted(values)
    rank = (len(ordered) - 1) * q
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


# ---- the vector ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Feature:
    """One numeric feature of the vector: where its value lies on its range, and its weight."""

    name: str
    low: float
    high: float
    log: bool = False
    weight: float = 1.0

    def position(self, value: float) -> float:
        """The value's place on the range, 0 at `low` and 1 at `high`, clamped."""
        if self.log:
            if value <= self.low:
                return 0.0
            place = (math.log(value) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        else:
            place = (value - self.low) / (self.high - self.low)
        return max(0.0, min(1.0, place))

    def pair(self, value: float | None) -> tuple[float, float]:
        if value is None or not math.isfinite(value):
            return (0.0, 0.0)
        angle = self.position(value) * math.pi
        return (self.weight * math.cos(angle), self.weight * math.sin(angle))


CONTEXT_FEATURES: tuple[Feature, ...] = (
    Feature(REPLICAS, 1.0, 64.0, log=True),
    Feature(GPU_MEMORY_PER_GPU_GIB, 16.0, 192.0, log=True),
    Feature(GPUS_PER_REPLICA, 1.0, 8.0, log=True),
    Feature(HOURLY_COST_USD, 1.0, 1000.0, log=True),
    Feature(GPU_UTILIZATION_MEAN, 0.0, 100.0),
    Feature(GPU_UTILIZATION_P95, 0.0, 100.0),
    Feature(GPU_MEMORY_UTILIZATION_P95, 0.0, 100.0),
    Feature(REQUEST_RATE, 0.1, 1000.0, log=True),
    Feature(TTFT_SLO_RATIO, 0.25, 4.0, log=True),
    Feature(KV_USAGE_MAX, 0.0, 1.0),
    Feature(ERROR_RATE, 0.0, 0.05),
    Feature(SPOT_SHARE, 0.0, 1.0),
    Feature(ON_KUBERNETES, 0.0, 1.0, weight=FLAG),
    Feature(STATELESS, 0.0, 1.0, weight=FLAG),
    Feature(CRITICAL, 0.0, 1.0, weight=FLAG),
)
"""Slots 16-45, a pair each, in order: the context key each reads."""

SAVINGS_RATIO = Feature("savings_ratio", 0.0, 1.0)
MONTHLY_SAVINGS = Feature("monthly_savings_usd", 10.0, 100_000.0, log=True)
COST_INCREASE_RATIO = Feature("cost_increase_ratio", 0.0, 1.0)
RISK_RANK = Feature("risk_rank", 0.0, float(max(level.rank for level in RiskLevel)))
PROPOSAL_FEATURES: tuple[Feature, ...] = (SAVINGS_RATIO, MONTHLY_SAVINGS, COST_INCREASE_RATIO, RISK_RANK)
"""Slots 46-53, a pair each, in order."""

_AGENTS: tuple[AgentKind, ...] = tuple(AgentKind)
_TYPES: tuple[RecommendationType, ...] = tuple(RecommendationType)
VECTOR_DIMENSION = len(_AGENTS) + len(_TYPES) + 2 * (len(CONTEXT_FEATURES) + len(PROPOSAL_FEATURES))


def outcome_vector(
    agent: AgentKind, type: RecommendationType, context: Mapping[str, float], figures: ProposalFigures
) -> list[float]:
    """The `VECTOR_DIMENSION`-long vector of a change of `type` by `agent` on a workload with `context`,
    promising `figures` (layout in the module's docstring). Keys of `context` it has no slot for are
    ignored; non-finite values count as missing."""
    vector = [ONE_HOT if a is agent else 0.0 for a in _AGENTS]
    vector += [ONE_HOT if t is type else 0.0 for t in _TYPES]
    for feature in CONTEXT_FEATURES:
        vector.extend(feature.pair(context.get(feature.name)))
    risk = None if figures.risk_rank is None else float(figures.risk_rank)
    values = (figures.savings_ratio, figures.monthly_savings_usd, figures.cost_increase_ratio, risk)
    for feature, value in zip(PROPOSAL_FEATURES, values, strict=True):
        vector.extend(feature.pair(value))
    return vector


def proposal_vector(proposal: Proposal, context: Mapping[str, float]) -> list[float]:
    """The vector of a new proposal on a workload with `context`."""
    return outcome_vector(proposal.agent, proposal.type, context, ProposalFigures.of(proposal))


def learned_vector(outcome: LearnedOutcome) -> list[float]:
    """The vector a learned outcome is stored under: its context, its predicted savings and the proposal
    figures its context carries (see `ProposalFigures.recorded`)."""
    figures = ProposalFigures.recorded(outcome.predicted_monthly_savings_usd, outcome.context)
    return outcome_vector(outcome.agent, outcome.type, outcome.context, figures)
