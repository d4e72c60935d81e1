"""Benchmark: how far the Cost agent's plan is from the cheapest possible one.

The fleets are twins built from real prices and real traffic. Each is in a seeded random region of the
bundled price catalog and has 2-4 workloads. A workload serves one of the capacity model's models with real
request lengths (the Azure code trace or the Mooncake conversation trace), under a TTFT/ITL objective the
model meets on at least `MIN_SERVING_TYPES` types, with the traffic of ServeGen's 14-day production trace
rescaled and shifted in time of day, its replicas spread over two or three Availability Zones. Its current
fleet is what a team that sized by hand runs: all on-demand, mostly on the GPU family with the cheapest
capacity (another plausible type otherwise), costing 1.2-2x the optimum and at least carrying its peak.

The agent's plan is the live Cost agent's (`optiinfra.bench.live_cost`): handed the snapshot its
collectors would read at the end of week 1, every proposal approved in turn until it proposes nothing. The
optimum is solved under the same rules (the forecast per hour of day is the p95 of week 1's windows in
that hour and the two either side). Both are replayed against week 2, which neither has seen, with spot
replicas reclaimed at their Spot Advisor rates.

Printed per workload, per fleet and in total: the current, hand right-sized (naive), agent and optimal
monthly costs, how much of the optimal saving the agent and the naive plan get, how much dearer the
agent's plan is than the optimum, and the hours in which the agent's plan breaks the optimum's rules.

    optiinfra bench plan [--fleets N] [--seed S] [--workers W] [--truth silicon|roofline] [--no-peers]
                         [--json FILE] [--data-dir DIR]
"""

from __future__ import annotations

import atexit
import contextlib
import json
import math
import multiprocessing
import os
import random
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from agents.cost.commitments import CommitmentPolicy
from agents.cost.plan import (
    WorkloadDemand,
    WorkloadPlan,
    current_fleet_plan,
    hourly_profile,
    naive_plan,
    reservations_allowed,
)
from agents.cost.plan.demand import HOURS_PER_DAY
from agents.cost.pricing import HOURS_PER_MONTH
from agents.cost.sizing import RequestShape, TypeCapacity, replicas_needed, type_capacities
from optiinfra.bench.live_cost import ON_DEMAND_CHANGES, BenchTraffic, LiveCostAgent, LiveFleet
from optiinfra.bench.peers.aibrix_optimizer import aibrix_plan
from optiinfra.bench.peers.environment import AIBRIX
from optiinfra.bench.peers.process import PeerProcess
from optiinfra.bench.plan_optimal import optimal_plan
from optiinfra.bench.progress import StageCallback, no_stages
from optiinfra.capacity import SERVED_MODELS
from optiinfra.capacity.truth import TruthSource
from optiinfra.catalog.loader import PriceCatalog
from optiinfra.domain.fleet import InstanceType, Workload
from optiinfra.domain.rates import RateWindow
from optiinfra.settings import get_settings
from optiinfra.sim.traffic import (
    TokenLengthMix,
    load_azure_trace,
    load_mooncake_trace,
    load_servegen_aggregate,
)
from optiinfra.sim.traffic.generator import AZURE_CODE_TRACE, MOONCAKE_CONVERSATION_TRACE, SERVEGEN_AGGREGATE
from optiinfra.sim.traffic.models import DAY_S, WEEK_S
from optiinfra.sim.twin.dry_run import DEFAULT_MIN_SLO_ATTAINMENT
from optiinfra.sim.twin.fleet import TtftItlSlo, WorkloadTwinSpec
from optiinfra.sim.twin.plan_replay import HourReplicas, PlanReplayResult, replay_plan

DEFAULT_FLEETS = 24
DEFAULT_SEED = 7
DEFAULT_WORKERS = 2
WORKLOADS_PER_FLEET = (2, 4)
MIN_SERVING_TYPES = 3
"""An objective only the odd type meets leaves nothing to choose between; the bench wants a choice."""
CURRENT_OVER_OPTIMAL = (1.2, 2.0)
"""The current fleet's monthly cost over the optimum's (drawn uniform): the waste of a fleet sized by hand,
not a 5x mistake that would make any plan look good."""
RIGHT_FAMILY_SHARE = 0.75
"""Share of current fleets on the GPU model with the cheapest on-demand capacity (another host size or GPU
count of it); the rest on another plausible type."""
ZONE_CHOICES = (2, 3)
CURRENT_MAX_COST_RATIO = 3.0
"""The current type is drawn among those within this factor of the cheapest on-demand cost per request/s:
a plausible first choice (an older GPU, a bigger host than needed), not a 100x mistake that would make any
plan look good."""
OPTIMAL_NODE_LIMIT = 5_000
"""Branch-and-bound nodes per workload (a few seconds at most); where HiGHS has not closed the gap by then,
the gap and the bound are reported. A node limit, unlike a time limit, gives the same figures anywhere."""
OPTIMAL_TIME_LIMIT_S = 60.0
"""Only a guard against a pathological program; the node limit stops the search first."""
PEAK_IN_REPLICAS = (1.5, 25.0)
"""Week-1 peak rate, in replicas of the model's cheapest type per request/s (drawn log-uniform): from a
small deployment to a large one."""
HISTORY_DAYS = (7.0, 14.0, 45.0, 90.0, 365.0)
"""How long each workload has been serving this traffic, which decides whether a reservation may be bought
(`CommitmentPolicy.min_history_days`)."""
STATELESS_SHARE = 0.7
CRITICAL_SHARE = 0.2
MIN_ON_DEMAND_CHOICES = (0, 0, 1, 2)
WORKLOAD_ATTEMPTS = 50
"""Draws of model and token mix before giving up on a region where none is served by enough types."""

AZURE_CODE = "azure-code"
MOONCAKE_CONVERSATION = "mooncake-conversation"
SLO_CHOICES: dict[str, tuple[TtftItlSlo, ...]] = {
    # Short prompts (2k tokens mean, 7k p95) and short answers: a coding assistant, interactive.
    AZURE_CODE: (
        TtftItlSlo(ttft_p95_s=2.0, itl_p95_s=0.05),
        TtftItlSlo(ttft_p95_s=3.0, itl_p95_s=0.1),
        TtftItlSlo(ttft_p95_s=5.0, itl_p95_s=0.1),
        TtftItlSlo(ttft_p95_s=8.0, itl_p95_s=0.15),
    ),
    # Long conversations (12k-token prompts, 40k p95): a prefill of many seconds is the floor of TTFT.
    MOONCAKE_CONVERSATION: (
        TtftItlSlo(ttft_p95_s=10.0, itl_p95_s=0.1),
        TtftItlSlo(ttft_p95_s=20.0, itl_p95_s=0.15),
        TtftItlSlo(ttft_p95_s=30.0, itl_p95_s=0.2),
    ),
}


class BenchDataError(FileNotFoundError):
    """The real data the bench is built from is not where the settings say."""


@dataclass(frozen=True)
class RealData:
    """What the fleets are built from: ServeGen's 14-day aggregate rate and two real token-length mixes."""

    servegen: list[RateWindow]
    token_mixes: dict[str, TokenLengthMix]

    @classmethod
    def load(cls, data_dir: Path) -> RealData:
        paths = [
            data_dir / SERVEGEN_AGGREGATE,
            data_dir / AZURE_CODE_TRACE,
            data_dir / MOONCAKE_CONVERSATION_TRACE,
        ]
        missing = [str(path) for path in paths if not path.is_file()]
        if missing:
            raise BenchDataError(
                f"the shared data set is missing ({', '.join(missing)}): set OPTIINFRA_DATA_DIR or "
                "--data-dir to the folder with servegen/, azure_llm_2023/ and mooncake/"
            )
        servegen = load_servegen_aggregate(paths[0])
        if servegen[-1].end_s - servegen[0].start_s < 2 * WEEK_S - 1e-6:
            raise BenchDataError(f"{paths[0]} holds less than two weeks of traffic")
        return cls(
            servegen=servegen,
            token_mixes={
                AZURE_CODE: TokenLengthMix.from_requests(load_azure_trace(paths[1])),
                MOONCAKE_CONVERSATION: TokenLengthMix.from_requests(load_mooncake_trace(paths[2])),
            },
        )


def sizing_shape(spec: WorkloadTwinSpec) -> RequestShape:
    """The request shape the agent sizes a twin workload with. The twin judges ITL at its p95, a fixed
    factor above the modelled mean (`ITL_SIGMA`), while sizing bounds the mean: the objective is scaled
    back so both judge the same thing."""
    load = spec.replica_load(0.0)
    return RequestShape(
        mean_prompt_tokens=load.mean_prompt_tokens,
        mean_output_tokens=load.mean_output_tokens,
        p95_prompt_tokens=load.p95_prompt_tokens,
        ttft_p95_slo_s=spec.slo.ttft_p95_s,
        itl_p95_slo_s=spec.slo.itl_p95_s,
    )


class CapacityCache:
    """Replica capacity under the SLO depends on the GPU (model, count, memory), the served model and the
    request shape only, not on the region or host: each is computed once across all fleets."""

    def __init__(self) -> None:
        self._rps: dict[tuple[str, int, float, str, RequestShape], float] = {}

    def capacities(
        self, candidates: Sequence[InstanceType], model_name: str, shape: RequestShape
    ) -> list[TypeCapacity]:
        def key(it: InstanceType) -> tuple[str, int, float, str, RequestShape]:
            return (it.gpu_model, it.gpu_count, it.gpu_memory_gib, model_name, shape)

        unknown = {key(it): it for it in candidates if key(it) not in self._rps}
        for found_key in unknown:
            self._rps[found_key] = 0.0
        for found in type_capacities(unknown.values(), model_name, shape):
            self._rps[key(found.instance_type)] = found.capacity_rps
        return [
            TypeCapacity(instance_type=it, capacity_rps=self._rps[key(it)])
            for it in candidates
            if self._rps[key(it)] > 0
        ]


@dataclass(frozen=True)
class BenchWorkload:
    """One generated workload: what the twin runs, what the planners see, and the current fleet."""

    fleet: int
    spec: WorkloadTwinSpec
    token_mix_name: str
    demand: WorkloadDemand
    capacities: list[TypeCapacity]
    current: TypeCapacity
    current_over_optimal: float
    history_days: float
    week1: list[RateWindow]
    week2: list[RateWindow]
    catalog_types: list[InstanceType]


ON_DEMAND_PLANS = ("aibrix", "agent_on_demand", "optimal_on_demand")


@dataclass(frozen=True)
class OnDemandOutcome:
    """One workload planned with on-demand capacity only: AIBrix's optimizer (which plans nothing else), the
    live agent with a person who approves only on-demand changes, and the exact optimum without spot or
    reservations; AIBrix's plan is also replayed on week 2."""

    aibrix: WorkloadPlan
    aibrix_replay: PlanReplayResult
    aibrix_raised_hours: int
    agent_on_demand: WorkloadPlan
    agent_on_demand_replay: PlanReplayResult
    optimal_on_demand: WorkloadPlan

    def cost(self, plan: str) -> float:
        found: WorkloadPlan = getattr(self, plan)
        return found.monthly_cost_usd

    def row(self) -> dict[str, object]:
        return {
            "aibrix_usd_month": round(self.aibrix.monthly_cost_usd, 2),
            "aibrix_plan": self.aibrix.describe(),
            "aibrix_slo_attainment": round(self.aibrix_replay.slo_attainment, 4),
            "aibrix_raised_to_minimum_hours": self.aibrix_raised_hours,
            "agent_on_demand_usd_month": round(self.agent_on_demand.monthly_cost_usd, 2),
            "agent_on_demand_plan": self.agent_on_demand.describe(),
            "agent_on_demand_slo_attainment": round(self.agent_on_demand_replay.slo_attainment, 4),
            "optimal_on_demand_usd_month": round(self.optimal_on_demand.monthly_cost_usd, 2),
        }


@dataclass(frozen=True)
class WorkloadOutcome:
    """The four plans of one workload and how the agent's and the optimum's fared on week 2."""

    workload: BenchWorkload
    current: WorkloadPlan
    naive: WorkloadPlan
    agent: WorkloadPlan
    optimal: WorkloadPlan
    optimal_bound_usd: float
    optimal_gap: float
    agent_replay: PlanReplayResult
    optimal_replay: PlanReplayResult
    agent_approved: tuple[str, ...]
    agent_rule_breaks: list[str]
    on_demand: OnDemandOutcome | None = None
    """The on-demand-only comparison with AIBrix's optimizer (None: the peers were left out)."""

    def cost(self, plan: str) -> float:
        """Monthly cost of `plan` (current, naive, agent, optimal), or the optimum's proven lower bound
        (optimal_bound)."""
        if plan == "optimal_bound":
            return self.optimal_bound_usd
        if plan in ON_DEMAND_PLANS:
            if self.on_demand is None:
                raise ValueError(f"{plan} needs the peers' run")
            return self.on_demand.cost(plan)
        found: WorkloadPlan = getattr(self, plan)
        return found.monthly_cost_usd

    def row(self) -> dict[str, object]:
        w = self.workload
        workload = w.spec.workload
        current_cost = self.current.monthly_cost_usd
        return {
            "workload_id": workload.workload_id,
            "model": workload.model_name,
            "token_mix": w.token_mix_name,
            "slo_ttft_p95_s": w.spec.slo.ttft_p95_s,
            "slo_itl_p95_s": w.spec.slo.itl_p95_s,
            "stateless": workload.stateless,
            "critical": workload.critical,
            "min_on_demand_instances": workload.min_on_demand_instances,
            "history_days": w.history_days,
            "reservations_allowed": w.demand.reservations_allowed,
            "peak_rps_week1": round(w.demand.peak_rps, 3),
            "candidate_types": len(w.capacities),
            "zones": w.demand.spot_zones,
            "current": self.current.describe(),
            "current_usd_month": round(current_cost, 2),
            "naive_usd_month": round(self.naive.monthly_cost_usd, 2),
            "agent_usd_month": round(self.agent.monthly_cost_usd, 2),
            "optimal_usd_month": round(self.optimal.monthly_cost_usd, 2),
            "agent_savings_usd_month": round(current_cost - self.agent.monthly_cost_usd, 2),
            "optimal_savings_usd_month": round(current_cost - self.optimal.monthly_cost_usd, 2),
            "optimal_lower_bound_usd_month": round(self.optimal_bound_usd, 2),
            "optimal_mip_gap": self.optimal_gap,
            "agent_plan": self.agent.describe(),
            "agent_approved": list(self.agent_approved),
            "agent_rule_breaks": len(self.agent_rule_breaks),
            "agent_first_rule_break": self.agent_rule_breaks[0] if self.agent_rule_breaks else None,
            "optimal_plan": self.optimal.describe(),
            "agent_slo_attainment": round(self.agent_replay.slo_attainment, 4),
            "optimal_slo_attainment": round(self.optimal_replay.slo_attainment, 4),
            "agent_spot_interruptions": self.agent_replay.interruptions,
            "agent_replay_failure": self.agent_replay.failure_reason,
            **(self.on_demand.row() if self.on_demand is not None else {}),
        }


@dataclass
class FleetOutcome:
    """One fleet's workloads, planned."""

    index: int
    region: str
    workloads: list[WorkloadOutcome] = field(default_factory=list)

    def total(self, plan: str) -> float:
        return sum(w.cost(plan) for w in self.workloads)

    def row(self) -> dict[str, object]:
        return {
            "fleet": self.index,
            "region": self.region,
            **{
                f"{plan}_usd_month": round(self.total(plan), 2)
                for plan in ("current", "naive", "agent", "optimal")
            },
            "savings_ratio_vs_optimal": _ratio(
                self.total("current"), self.total("agent"), self.total("optimal")
            ),
            "workloads": [w.row() for w in self.workloads],
        }


@dataclass(frozen=True)
class PlanBenchResult:
    """Every fleet's outcome, and the totals the bench is judged by."""

    fleets: list[FleetOutcome]
    seed: int
    elapsed_s: float
    aibrix_versions: dict[str, str] = field(default_factory=dict)
    """The peer's package versions; empty when the peers were left out."""

    def total(self, plan: str) -> float:
        return sum(fleet.total(plan) for fleet in self.fleets)

    @property
    def with_peers(self) -> bool:
        return bool(self.aibrix_versions)

    def peer_json(self) -> dict[str, object]:
        """AIBrix's optimizer beside OptiInfra's plans: on-demand only (what AIBrix plans), and OptiInfra's
        full plan (spot and reservations counted)."""
        replays = [w.on_demand for w in self.outcomes if w.on_demand is not None]
        aibrix, agent_od = self.total("aibrix"), self.total("agent_on_demand")
        return {
            "usd_month": round(aibrix, 2),
            "slo_violations": sum(not o.aibrix_replay.passes(DEFAULT_MIN_SLO_ATTAINMENT) for o in replays),
            "hours_raised_to_minimum": sum(o.aibrix_raised_hours for o in replays),
            "version": self.aibrix_versions.get("aibrix", ""),
            "versions": self.aibrix_versions,
            "agent_on_demand_usd_month": round(agent_od, 2),
            "agent_on_demand_slo_violations": sum(
                not o.agent_on_demand_replay.passes(DEFAULT_MIN_SLO_ATTAINMENT) for o in replays
            ),
            "optimal_on_demand_usd_month": round(self.total("optimal_on_demand"), 2),
            "agent_on_demand_over_aibrix": round(agent_od / aibrix - 1.0, 4),
            "agent_over_aibrix": round(self.total("agent") / aibrix - 1.0, 4),
            "goals": {
                "agent_on_demand_costs_no_more_than_aibrix": agent_od <= aibrix,
                "agent_costs_less_than_aibrix": self.total("agent") < aibrix,
            },
        }

    @property
    def savings_ratio_vs_optimal(self) -> float:
        return _ratio(self.total("current"), self.total("agent"), self.total("optimal"))

    @property
    def savings_ratio_vs_optimal_bound(self) -> float:
        """Against what no plan can beat: equal to `savings_ratio_vs_optimal` when every program was
        solved to optimality, lower where the node limit left a gap."""
        return _ratio(self.total("current"), self.total("agent"), self.total("optimal_bound"))

    @property
    def naive_ratio_vs_optimal(self) -> float:
        return _ratio(self.total("current"), self.total("naive"), self.total("optimal"))

    @property
    def agent_cost_over_optimal(self) -> float:
        """How much dearer the agent's plans are than the optimum, in total: unlike the savings ratio, it
        does not depend on how wasteful the current fleets were."""
        return self.total("agent") / self.total("optimal") - 1.0

    @property
    def outcomes(self) -> list[WorkloadOutcome]:
        return [w for fleet in self.fleets for w in fleet.workloads]

    @property
    def slo_violations(self) -> int:
        """Workloads whose agent plan fails its week-2 replay."""
        return sum(not w.agent_replay.passes(DEFAULT_MIN_SLO_ATTAINMENT) for w in self.outcomes)

    @property
    def optimal_unproven(self) -> int:
        """Workloads whose integer program stopped at its node limit before closing the gap."""
        return sum(w.optimal_gap > 0 for w in self.outcomes)

    @property
    def agent_rule_breaks(self) -> int:
        """Hours of the typical day, summed over workloads, in which the agent's plan breaks a rule the
        optimum keeps (capacity for the forecast with headroom, surviving a pool's loss, the minimum)."""
        return sum(len(w.agent_rule_breaks) for w in self.outcomes)

    @property
    def current_over_optimal(self) -> float:
        return self.total("current") / self.total("optimal") - 1.0

    @property
    def optimal_slo_violations(self) -> int:
        return sum(not w.optimal_replay.passes(DEFAULT_MIN_SLO_ATTAINMENT) for w in self.outcomes)

    def to_json(self) -> dict[str, object]:
        return {
            "savings_ratio_vs_optimal": round(self.savings_ratio_vs_optimal, 4),
            "savings_ratio_vs_optimal_bound": round(self.savings_ratio_vs_optimal_bound, 4),
            "naive_ratio_vs_optimal": round(self.naive_ratio_vs_optimal, 4),
            "agent_cost_over_optimal": round(self.agent_cost_over_optimal, 4),
            "optimal_unproven": self.optimal_unproven,
            "slo_violations": self.slo_violations,
            "optimal_slo_violations": self.optimal_slo_violations,
            "agent_rule_breaks": self.agent_rule_breaks,
            "current_over_optimal": round(self.current_over_optimal, 4),
            **{
                f"{plan}_usd_month": round(self.total(plan), 2)
                for plan in ("current", "naive", "agent", "optimal")
            },
            **({"aibrix_melange": self.peer_json()} if self.with_peers else {}),
            "workloads_count": len(self.outcomes),
            "fleets": [fleet.row() for fleet in self.fleets],
            "seed": self.seed,
            "fleets_count": len(self.fleets),
            "elapsed_s": round(self.elapsed_s, 2),
        }


def _ratio(current: float, plan: float, optimal: float) -> float:
    """Share of the optimal saving a plan gets; 1 when there is nothing to save."""
    best = current - optimal
    return (current - plan) / best if best > 0 else 1.0


class FleetBuilder:
    """Draws the bench's fleets from one seeded random stream."""

    def __init__(self, data: RealData, catalog: PriceCatalog, seed: int, capacities: CapacityCache) -> None:
        self._data = data
        self._catalog = catalog
        self._rng = random.Random(seed)
        self._capacities = capacities
        self._policy = CommitmentPolicy()
        start = data.servegen[0].start_s
        self._week1 = [w for w in data.servegen if w.start_s < start + WEEK_S]
        self._week2 = [w for w in data.servegen if start + WEEK_S <= w.start_s < start + 2 * WEEK_S]
        self._week1_peak = max(w.rate_rps for w in self._week1)

    def region(self) -> str:
        return self._rng.choice(self._catalog.regions())

    def workloads(self, fleet: int, region: str) -> list[BenchWorkload]:
        count = self._rng.randint(*WORKLOADS_PER_FLEET)
        return [self._workload(fleet, f"f{fleet:02d}-w{index}", region) for index in range(count)]

    def _workload(self, fleet: int, workload_id: str, region: str) -> BenchWorkload:
        rng = self._rng
        types = self._catalog.types_in(region)
        for _ in range(WORKLOAD_ATTEMPTS):
            model = rng.choice(sorted(SERVED_MODELS))
            mix_name = rng.choice(sorted(self._data.token_mixes))
            mix = self._data.token_mixes[mix_name]
            workload = Workload(
                customer_id="bench",
                workload_id=workload_id,
                name=workload_id,
                model_name=model,
                region=region,
                stateless=rng.random() < STATELESS_SHARE,
                critical=rng.random() < CRITICAL_SHARE,
                min_on_demand_instances=rng.choice(MIN_ON_DEMAND_CHOICES),
            )
            zones = rng.choice(ZONE_CHOICES)
            # The first servable objective in a shuffled order is a uniform draw among the servable ones,
            # without sizing the model for every objective.
            for slo in rng.sample(SLO_CHOICES[mix_name], len(SLO_CHOICES[mix_name])):
                spec = WorkloadTwinSpec(workload, [], self._week2, mix, slo)
                capacities = self._capacities.capacities(types, model, sizing_shape(spec))
                if len(capacities) >= MIN_SERVING_TYPES:
                    return self._with_traffic(fleet, spec, mix_name, capacities, zones, types)
        raise RuntimeError(f"no model, token mix and SLO in {region} is served by {MIN_SERVING_TYPES} types")

    def _with_traffic(
        self,
        fleet: int,
        spec: WorkloadTwinSpec,
        mix_name: str,
        capacities: list[TypeCapacity],
        zones: int,
        catalog_types: list[InstanceType],
    ) -> BenchWorkload:
        rng = self._rng
        cheapest = min(capacities, key=lambda c: c.instance_type.on_demand_hourly_usd / c.capacity_rps)
        low, high = PEAK_IN_REPLICAS
        peak = cheapest.capacity_rps * math.exp(rng.uniform(math.log(low), math.log(high)))
        scale = peak / self._week1_peak
        shift_s = rng.randrange(int(DAY_S // self._week1[0].duration_s)) * self._week1[0].duration_s
        week1 = _rescaled(self._week1, scale, shift_s)
        week2 = _rescaled(self._week2, scale, shift_s)
        plausible = [
            c
            for c in capacities
            if c.instance_type.on_demand_hourly_usd / c.capacity_rps
            <= CURRENT_MAX_COST_RATIO * cheapest.instance_type.on_demand_hourly_usd / cheapest.capacity_rps
        ]
        family = [c for c in plausible if c.instance_type.gpu_model == cheapest.instance_type.gpu_model]
        current = rng.choice(family if rng.random() < RIGHT_FAMILY_SHARE else plausible)
        over_optimal = rng.uniform(*CURRENT_OVER_OPTIMAL)
        history_days = rng.choice(HISTORY_DAYS)
        demand = WorkloadDemand(
            workload=spec.workload,
            shape=sizing_shape(spec),
            hourly_rps=hourly_profile(week1),
            spot_zones=zones,
            reservations_allowed=reservations_allowed(history_days, self._policy),
        )
        return BenchWorkload(
            fleet,
            WorkloadTwinSpec(spec.workload, [], week2, spec.token_mix, spec.slo),
            mix_name,
            demand,
            capacities,
            current,
            over_optimal,
            history_days,
            week1,
            week2,
            catalog_types,
        )

    @property
    def policy(self) -> CommitmentPolicy:
        return self._policy


def _rescaled(windows: Sequence[RateWindow], scale: float, shift_s: float) -> list[RateWindow]:
    """The same traffic at `scale` times the rate, `shift_s` later in the day (its peak hour moves)."""
    return [RateWindow(w.start_s + shift_s, w.duration_s, w.rate_rps * scale) for w in windows]


def hourly_fleet(plan: WorkloadPlan) -> list[tuple[HourReplicas, ...]]:
    """The replicas of each hour of the day, as the twin's plan replay runs them: reserved replicas are
    steady capacity like on-demand ones."""
    return [
        tuple(
            HourReplicas(a.instance_type, a.capacity_rps, steady=a.steady(hour), spot=a.spot[hour])
            for a in plan.allocations
            if a.replicas(hour)
        )
        for hour in range(HOURS_PER_DAY)
    ]


@contextlib.contextmanager
def _native_stdout_silenced() -> Iterator[None]:
    """HiGHS (as bundled with scipy) prints a stray debug line from C++ straight to file descriptor 1 when
    it repairs a solution found in presolved space, whatever its output options (ERGO-Code/HiGHS#2783);
    the bench's report must stay readable, so the descriptor points at /dev/null while it solves."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        with open(os.devnull, "w") as sink:
            os.dup2(sink.fileno(), 1)
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def current_replicas(workload: BenchWorkload, optimal_usd_month: float) -> int:
    """The current fleet's size: its drawn cost over the optimum, and never less than carries the peak
    with headroom or the workload's minimum."""
    current = workload.current
    demand = workload.demand
    by_cost = workload.current_over_optimal * optimal_usd_month
    by_cost /= current.instance_type.on_demand_hourly_usd * HOURS_PER_MONTH
    return max(
        replicas_needed(demand.peak_rps, current.capacity_rps, demand.headroom),
        demand.workload.min_on_demand_instances,
        round(by_cost),
    )


def plan_workload(
    workload: BenchWorkload,
    policy: CommitmentPolicy,
    seed: int,
    truth: TruthSource = TruthSource.SILICON,
    peer_envs_dir: Path | None = None,
) -> WorkloadOutcome:
    """The four plans for one workload, and the week-2 replays of the agent's and the optimum's."""
    demand = workload.demand
    with _native_stdout_silenced():
        optimal = optimal_plan(
            demand,
            workload.capacities,
            policy,
            time_limit_s=OPTIMAL_TIME_LIMIT_S,
            node_limit=OPTIMAL_NODE_LIMIT,
        )
    replicas = current_replicas(workload, optimal.plan.monthly_cost_usd)
    current = current_fleet_plan(workload.current.instance_type, workload.current.capacity_rps, replicas)
    naive = naive_plan(demand, workload.current)
    for plan in (naive, optimal.plan):
        broken = plan.violations(demand)
        if broken:
            # Costs of plans that do not keep the same rules would not be comparable.
            raise RuntimeError(f"{plan.strategy} plan of {demand.workload.workload_id} breaks: {broken[:3]}")
    capacities = {c.instance_type.name: c.capacity_rps for c in workload.capacities}
    live = _live_agent(workload, policy, capacities).run(
        LiveFleet(workload.current.instance_type, replicas, demand.spot_zones)
    )
    agent = live.fleet.plan(capacities.get(live.fleet.instance_type.name, 0.0))
    agent_replay = _week2_replay(workload, agent, seed, truth)
    optimal_replay = _week2_replay(workload, optimal.plan, seed, truth)
    return WorkloadOutcome(
        workload,
        current,
        naive,
        agent,
        optimal.plan,
        optimal.lower_bound_usd,
        optimal.mip_gap,
        agent_replay,
        optimal_replay,
        live.fleet.approved,
        agent.violations(demand),
        on_demand=(
            _on_demand_outcome(workload, policy, seed, truth, replicas, capacities, peer_envs_dir)
            if peer_envs_dir is not None
            else None
        ),
    )


def _week2_replay(
    workload: BenchWorkload, plan: WorkloadPlan, seed: int, truth: TruthSource
) -> PlanReplayResult:
    return replay_plan(workload.spec, hourly_fleet(plan), workload.week2, seed=seed, truth=truth)


def _live_agent(
    workload: BenchWorkload, policy: CommitmentPolicy, capacities: dict[str, float]
) -> LiveCostAgent:
    return LiveCostAgent(
        workload.demand,
        workload.catalog_types,
        BenchTraffic(workload.week1, workload.spec.token_mix, workload.history_days),
        policy,
        capacities,
    )


_AIBRIX_PROCESS: PeerProcess | None = None


def _aibrix_process(envs_dir: Path) -> PeerProcess:
    """This process's AIBrix adapter, started once and stopped at exit (each pool worker has its own)."""
    global _AIBRIX_PROCESS
    if _AIBRIX_PROCESS is None:
        _AIBRIX_PROCESS = PeerProcess(AIBRIX, envs_dir)
        atexit.register(_AIBRIX_PROCESS.close)
    return _AIBRIX_PROCESS


def _on_demand_outcome(
    workload: BenchWorkload,
    policy: CommitmentPolicy,
    seed: int,
    truth: TruthSource,
    replicas: int,
    capacities: dict[str, float],
    envs_dir: Path,
) -> OnDemandOutcome:
    """The on-demand-only plans: AIBrix's, the live agent's with spot and reservations declined, and the
    optimum's without them; AIBrix's and the agent's replayed on week 2."""
    demand = workload.demand
    found = aibrix_plan(_aibrix_process(envs_dir), demand, workload.capacities)
    live = _live_agent(workload, policy, capacities).run(
        LiveFleet(workload.current.instance_type, replicas, demand.spot_zones), approvable=ON_DEMAND_CHANGES
    )
    agent = live.fleet.plan(capacities.get(live.fleet.instance_type.name, 0.0))
    with _native_stdout_silenced():
        optimal = optimal_plan(
            demand,
            workload.capacities,
            policy,
            time_limit_s=OPTIMAL_TIME_LIMIT_S,
            node_limit=OPTIMAL_NODE_LIMIT,
            on_demand_only=True,
        )
    return OnDemandOutcome(
        aibrix=found.plan,
        aibrix_replay=_week2_replay(workload, found.plan, seed, truth),
        aibrix_raised_hours=found.raised_hours,
        agent_on_demand=agent,
        agent_on_demand_replay=_week2_replay(workload, agent, seed, truth),
        optimal_on_demand=optimal.plan,
    )


def run_plan_bench(
    data_dir: Path,
    *,
    fleets: int = DEFAULT_FLEETS,
    seed: int = DEFAULT_SEED,
    json_path: Path | None = None,
    workers: int = DEFAULT_WORKERS,
    truth: TruthSource = TruthSource.SILICON,
    peers: bool = True,
    peer_envs_dir: Path | None = None,
    on_stage: StageCallback = no_stages,
) -> PlanBenchResult:
    """Build `fleets` twin fleets, plan every workload four ways and replay the agent's and the optimum's
    plans, `workers` workloads at a time; write the figures to `json_path` when given; `on_stage` hears
    each stage and each workload planned. The fleets are drawn
    in this process from one seeded stream and each replay has its own seed, so the figures do not depend
    on `workers`. With `peers`, AIBrix's optimizer plans each workload too (on-demand only), beside the
    agent's and the optimum's on-demand-only plans."""
    if fleets < 1:
        raise ValueError(f"the bench needs at least one fleet, got {fleets}")
    if workers < 1:
        raise ValueError(f"the bench needs at least one worker, got {workers}")
    started = time.perf_counter()
    data = RealData.load(data_dir)
    on_stage(f"Building {fleets} twin fleets from the real prices and traffic")
    envs = (peer_envs_dir if peer_envs_dir is not None else get_settings().peer_envs_dir) if peers else None
    versions: dict[str, str] = {}
    if envs is not None:
        with PeerProcess(AIBRIX, envs) as process:  # fails here, before any planning, when it cannot run
            versions = {str(k): str(v) for k, v in process.ask({"op": "version"}).items()}
    builder = FleetBuilder(data, PriceCatalog.load_default(), seed, CapacityCache())
    outcomes: list[FleetOutcome] = []
    jobs: list[tuple[BenchWorkload, CommitmentPolicy, int, TruthSource, Path | None]] = []
    for index in range(fleets):
        outcomes.append(FleetOutcome(index, builder.region()))
        for position, workload in enumerate(builder.workloads(index, outcomes[-1].region)):
            jobs.append((workload, builder.policy, seed * 1_000 + index * 10 + position, truth, envs))
    on_stage(f"Planning {len(jobs)} workloads of {fleets} fleets, {workers} at a time")
    planned: list[WorkloadOutcome] = []
    with contextlib.ExitStack() as pools:
        # Spawned, not forked: the caller may hold threads (a test session, an event loop) a fork would copy.
        mapped = (
            map
            if workers == 1
            else pools.enter_context(
                ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"))
            ).map
        )
        for outcome in mapped(plan_workload, *zip(*jobs, strict=True)):
            planned.append(outcome)
            on_stage(_planned_stage(outcome, len(planned), len(jobs)))
    for outcome in planned:
        outcomes[outcome.workload.fleet].workloads.append(outcome)
    result = PlanBenchResult(outcomes, seed, time.perf_counter() - started, aibrix_versions=versions)
    if json_path is not None:
        json_path.write_text(json.dumps(result.to_json(), indent=2) + "\n")
    return result


def _planned_stage(outcome: WorkloadOutcome, done: int, total: int) -> str:
    fleet, workload_id = outcome.workload.fleet, outcome.workload.spec.workload.workload_id
    return f"Planned {done} of {total} workloads (fleet {fleet}, {workload_id})"


def render(result: PlanBenchResult) -> str:
    """The per-workload, per-fleet and total figures, as the bench prints them."""
    lines = []
    for fleet in result.fleets:
        ratio = _ratio(fleet.total("current"), fleet.total("agent"), fleet.total("optimal"))
        lines.append(
            f"fleet {fleet.index:2d} {fleet.region:15} current ${fleet.total('current'):>11,.0f}/month  "
            f"naive ${fleet.total('naive'):>11,.0f}  agent ${fleet.total('agent'):>11,.0f}  "
            f"optimal ${fleet.total('optimal'):>11,.0f}  agent/optimal savings {ratio:.3f}"
        )
        for outcome in fleet.workloads:
            row = outcome.row()
            lines.append(
                f"  {row['workload_id']} {row['model']} ({row['token_mix']}, "
                f"{row['slo_ttft_p95_s']}s/{row['slo_itl_p95_s']}s) now {row['current']}: "
                f"${row['current_usd_month']:,.0f} -> naive ${row['naive_usd_month']:,.0f}, "
                f"agent ${row['agent_usd_month']:,.0f}, optimal ${row['optimal_usd_month']:,.0f}; "
                f"SLO attainment agent {row['agent_slo_attainment']:.3f}, "
                f"optimal {row['optimal_slo_attainment']:.3f}"
            )
            lines.append(f"      agent:   {row['agent_plan']}")
            lines.append(f"      optimal: {row['optimal_plan']}")
            if outcome.on_demand is not None:
                lines.append(
                    f"      on-demand only: aibrix ${row['aibrix_usd_month']:,.0f} "
                    f"({row['aibrix_plan']}; attainment {row['aibrix_slo_attainment']:.3f}), agent "
                    f"${row['agent_on_demand_usd_month']:,.0f}, "
                    f"optimal ${row['optimal_on_demand_usd_month']:,.0f}"
                )
    current = result.total("current")
    lines += [
        "",
        f"fleets {len(result.fleets)}, workloads {len(result.outcomes)}, seed {result.seed}",
        f"current  ${current:>13,.0f}/month",
    ]
    for plan in ("naive", "agent", "optimal"):
        cost = result.total(plan)
        lines.append(
            f"{plan:8} ${cost:>13,.0f}/month  saves ${current - cost:>12,.0f} ({1 - cost / current:.1%})"
        )
    lines += [
        f"savings_ratio_vs_optimal {result.savings_ratio_vs_optimal:.4f}",
        f"  vs the optimum's bound {result.savings_ratio_vs_optimal_bound:.4f} "
        f"({result.optimal_unproven} program(s) stopped at the node limit with a gap)",
        f"naive_ratio_vs_optimal   {result.naive_ratio_vs_optimal:.4f}",
        f"agent_cost_over_optimal  {result.agent_cost_over_optimal:.2%}",
        f"slo_violations           {result.slo_violations} (agent plans below "
        f"{DEFAULT_MIN_SLO_ATTAINMENT:.0%} SLO attainment on week 2; optimal plans: "
        f"{result.optimal_slo_violations})",
        f"elapsed_s                {result.elapsed_s:.1f}",
    ]
    if result.with_peers:
        peer = result.peer_json()
        goals = peer["goals"]
        assert isinstance(goals, dict)
        lines += [
            "",
            f"AIBrix's GPU optimizer (aibrix {peer['version']}, Melange integer program by CBC), "
            "on-demand only:",
            f"  aibrix_melange           ${peer['usd_month']:>13,.0f}/month, slo_violations "
            f"{peer['slo_violations']} ({peer['hours_raised_to_minimum']} hours raised to a workload's "
            "minimum)",
            f"  agent, on-demand only    ${peer['agent_on_demand_usd_month']:>13,.0f}/month "
            f"({peer['agent_on_demand_over_aibrix']:+.2%} vs aibrix), slo_violations "
            f"{peer['agent_on_demand_slo_violations']}",
            f"  optimal, on-demand only  ${peer['optimal_on_demand_usd_month']:>13,.0f}/month",
            f"  agent (spot, reservations) ${result.total('agent'):>11,.0f}/month "
            f"({peer['agent_over_aibrix']:+.2%} vs aibrix)",
            "goal: the agent's on-demand-only plans cost no more than AIBrix's: "
            + ("MET" if goals["agent_on_demand_costs_no_more_than_aibrix"] else "NOT MET"),
            "goal: the agent's plans cost less than AIBrix's once spot and reservations count: "
            + ("MET" if goals["agent_costs_less_than_aibrix"] else "NOT MET"),
        ]
    return "\n".join(lines)
