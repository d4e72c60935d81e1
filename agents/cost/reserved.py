"""Reserved capacity: commit to the part of a workload's on-demand fleet that runs all the time.

The steady baseline is read from 30-90 days of hourly usage: the count of on-demand instances of a type
that ran in all but `baseline_quantile` of the hours. Only that many are reserved, with the cheapest offer
the customer's commitment policy allows; the break-even months say how soon the commitment pays for itself,
and the equivalent Savings Plan is given as the flexible alternative. A purchase binds the customer for the
term, so it never executes without a person's approval, whatever the operating mode."""

import math
from collections import defaultdict
from datetime import datetime

from pydantic import BaseModel, Field

from agents.cost.commitments import (
    CommitmentPolicy,
    ReservedOffer,
    break_even_months,
    break_even_utilization,
    cheapest_allowed_offer,
    savings_plan_for,
)
from agents.cost.pricing import monthly
from optiinfra.domain.enums import AgentKind, PurchaseOption, RecommendationType, RiskLevel, StepAction
from optiinfra.domain.fleet import InstanceType, UsageHour, WorkloadSnapshot
from optiinfra.domain.recommendation import ExecutionStep, Proposal

FULL_CONFIDENCE_DAYS = 90.0
LIMIT_PRICE_TOLERANCE = 0.01
"""The purchase is refused if the upfront price rose more than this since the recommendation."""


class ReservedCapacityParams(BaseModel):
    policy: CommitmentPolicy = Field(default_factory=CommitmentPolicy)
    min_monthly_savings_usd: float = 50.0


class SteadyBaseline(BaseModel):
    """On-demand instances of one type that ran in all but a small share of the observed hours."""

    instance_type: str
    instances: int
    history_days: float
    hours_at_or_above: float = Field(description="Share of hours with at least `instances` running")


def hourly_on_demand_counts(usage: list[UsageHour]) -> dict[str, dict[datetime, int]]:
    """Per type, the on-demand instances running in each observed hour."""
    counts: dict[str, dict[datetime, int]] = defaultdict(lambda: defaultdict(int))
    for row in usage:
        if row.lifecycle is PurchaseOption.ON_DEMAND:
            counts[row.instance_type][row.hour] += row.instances
    return counts


def steady_baselines(usage: list[UsageHour], quantile: float) -> list[SteadyBaseline]:
    """Per type, the count exceeded in all but `quantile` of the hours of the whole observed span (hours
    without a record count as zero: the instance did not run)."""
    if not usage:
        return []
    first = min(row.hour for row in usage)
    last = max(row.hour for row in usage)
    span_hours = int((last - first).total_seconds() // 3600) + 1
    baselines: list[SteadyBaseline] = []
    for instance_type, per_hour in sorted(hourly_on_demand_counts(usage).items()):
        counts = sorted([*per_hour.values(), *([0] * (span_hours - len(per_hour)))])
        level = counts[min(len(counts) - 1, math.floor(quantile * len(counts)))]
        if level <= 0:
            continue
        share = sum(1 for c in counts if c >= level) / len(counts)
        baselines.append(
            SteadyBaseline(
                instance_type=instance_type,
                instances=level,
                history_days=span_hours / 24,
                hours_at_or_above=share,
            )
        )
    return baselines


def analyze_reserved_capacity(
    snapshot: WorkloadSnapshot, params: ReservedCapacityParams | None = None
) -> Proposal | str:
    """A reservation proposal for the workload's steady on-demand baseline, or the reason there is none."""
    params = params or ReservedCapacityParams()
    policy = params.policy
    baselines = steady_baselines(snapshot.usage, policy.baseline_quantile)
    if not baselines:
        return "reserved capacity: no on-demand instance ran steadily in the usage history"
    history_days = baselines[0].history_days
    if history_days < policy.min_history_days:
        return (
            f"reserved capacity: {history_days:.0f} days of usage history, "
            f"{policy.min_history_days:.0f} needed before committing"
        )
    reserved_already: dict[str, int] = defaultdict(int)
    for reservation in snapshot.reservations:
        reserved_already[reservation.instance_type] += reservation.instance_count
    purchases: list[tuple[SteadyBaseline, InstanceType, ReservedOffer, int]] = []
    for baseline in baselines:
        instance_type = snapshot.instance_types.get(baseline.instance_type)
        if instance_type is None:
            continue
        count = baseline.instances - reserved_already[baseline.instance_type]
        offer = cheapest_allowed_offer(instance_type, policy)
        if (
            count > 0
            and offer is not None
            and offer.effective_hourly_usd < instance_type.on_demand_hourly_usd
        ):
            purchases.append((baseline, instance_type, offer, count))
    if not purchases:
        return "reserved capacity: the steady baseline is already reserved or no allowed offer is cheaper"
    saving = sum(
        monthly(it.on_demand_hourly_usd - offer.effective_hourly_usd) * count
        for _, it, offer, count in purchases
    )
    if saving < params.min_monthly_savings_usd:
        bar = params.min_monthly_savings_usd
        return f"reserved capacity: saving ${saving:.0f}/month is below the ${bar:.0f} bar"
    return _proposal(snapshot, purchases, saving)


def _proposal(
    snapshot: WorkloadSnapshot,
    purchases: list[tuple[SteadyBaseline, InstanceType, ReservedOffer, int]],
    saving: float,
) -> Proposal:
    covered = sum(monthly(it.on_demand_hourly_usd) * count for _, it, _, count in purchases)
    upfront = sum(offer.upfront_usd * count for _, _, offer, count in purchases)
    parts: list[str] = []
    evidence: dict[str, float | str] = {"upfront_usd": round(upfront, 2)}
    worst_break_even = 0.0
    for baseline, it, offer, count in purchases:
        months = break_even_months(offer, it.on_demand_hourly_usd, baseline.hours_at_or_above)
        worst_break_even = max(worst_break_even, months if months is not None else math.inf)
        plan = savings_plan_for(offer, count)
        parts.append(
            f"{count} {it.name} ran on-demand in {baseline.hours_at_or_above:.0%} of the hours over "
            f"{baseline.history_days:.0f} days. A {offer.term_years}-year {offer.offering_class.value} "
            f"{offer.payment.value.replace('_', ' ')} reservation costs ${offer.effective_hourly_usd:.4f}/h "
            f"effective against ${it.on_demand_hourly_usd:.4f}/h on-demand "
            f"(${offer.upfront_usd * count:,.0f} upfront, then ${offer.recurring_hourly_usd * count:.4f}/h); "
            f"it pays for itself at {break_even_utilization(offer, it.on_demand_hourly_usd):.0%} "
            f"utilization and "
            + (f"breaks even after {months:.1f} months." if months is not None else "does not break even.")
            + f" The same discount as a {plan.kind.value.replace('_', ' ')} Savings Plan is a "
            f"${plan.hourly_commitment_usd:.4f}/h commitment for {plan.term_years} year(s)."
        )
        evidence[f"{it.name}_reserved"] = float(count)
        evidence[f"{it.name}_offer"] = offer.key
        evidence[f"{it.name}_break_even_months"] = round(months, 2) if months is not None else "never"
    reasoning = (
        " ".join(parts)
        + " Reservations bill every hour of the term whether used or not and cannot be cancelled, so only "
        "the steady baseline is reserved and the purchase waits for a person's approval."
    )
    history_days = purchases[0][0].history_days
    stability = min(b.hours_at_or_above for b, _, _, _ in purchases)
    confidence = round(min(1.0, history_days / FULL_CONFIDENCE_DAYS) * stability * 0.95, 3)
    title = ", ".join(f"{count}x {it.name}" for _, it, _, count in purchases)
    return Proposal(
        agent=AgentKind.COST,
        type=RecommendationType.RESERVED_CAPACITY,
        title=f"Reserve {title} for {snapshot.workload.workload_id}",
        reasoning=reasoning,
        estimated_monthly_savings_usd=round(saving, 2),
        current_monthly_cost_usd=round(covered, 2),
        projected_monthly_cost_usd=round(covered - saving, 2),
        confidence=confidence,
        risk_level=RiskLevel.HIGH,
        steps=[
            _purchase_step(snapshot, n, it, offer, count)
            for n, (_, it, offer, count) in enumerate(purchases, 1)
        ],
        evidence={**evidence, "break_even_months": round(worst_break_even, 2)},
    )


def _purchase_step(
    snapshot: WorkloadSnapshot, n: int, instance_type: InstanceType, offer: ReservedOffer, count: int
) -> ExecutionStep:
    limit = offer.upfront_usd * count * (1 + LIMIT_PRICE_TOLERANCE)
    return ExecutionStep(
        step_id=f"reserve-{n}",
        action=StepAction.PURCHASE_RESERVED_INSTANCES,
        target=instance_type.name,
        params={
            "instance_type": instance_type.name,
            "count": str(count),
            "term_years": str(offer.term_years),
            "offering_class": offer.offering_class.value,
            "offering_type": offer.payment.aws_offering_type,
            "max_upfront_usd": f"{limit:.2f}",
            "effective_hourly_usd": f"{offer.effective_hourly_usd:.6f}",
            "customer_id": snapshot.workload.customer_id,
            "workload_id": snapshot.workload.workload_id,
        },
        description=(
            f"Buy {count} {offer.term_years}-year {offer.offering_class.value} "
            f"{offer.payment.value.replace('_', ' ')} reservation(s) of {instance_type.name} "
            f"(${monthly(offer.effective_hourly_usd) * count:,.0f}/month effective)"
        ),
    )
