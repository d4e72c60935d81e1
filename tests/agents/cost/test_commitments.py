import pytest

from agents.cost.commitments import (
    CommitmentPolicy,
    OfferingClass,
    PaymentOption,
    ReservedOffer,
    SavingsPlanKind,
    break_even_months,
    break_even_utilization,
    cheapest_allowed_offer,
    reserved_offers,
    savings_plan_for,
)
from optiinfra.catalog.loader import PriceCatalog
from tests.agents.snapshots import REGION


def g6() -> tuple[float, list[ReservedOffer]]:
    it = PriceCatalog.load_default().get("g6.xlarge", REGION)
    return it.on_demand_hourly_usd, reserved_offers(it)


def test_every_catalog_reservation_is_parsed_cheapest_first() -> None:
    it = PriceCatalog.load_default().get("g6.xlarge", REGION)
    offers = reserved_offers(it)
    assert len(offers) == len(it.reserved_hourly_usd) == 12
    assert [o.effective_hourly_usd for o in offers] == sorted(it.reserved_hourly_usd.values())
    assert {o.key for o in offers} == set(it.reserved_hourly_usd)


def test_upfront_and_recurring_split_by_payment_option() -> None:
    _, offers = g6()
    by_key = {o.key: o for o in offers}
    none = by_key["1yr_standard_no_upfront"]
    assert none.upfront_usd == 0 and none.recurring_hourly_usd == pytest.approx(none.effective_hourly_usd)
    everything = by_key["1yr_standard_all_upfront"]
    assert everything.upfront_usd == pytest.approx(everything.effective_hourly_usd * 8760)
    assert everything.recurring_hourly_usd == pytest.approx(0.0, abs=1e-9)
    partial = by_key["3yr_convertible_partial_upfront"]
    total = partial.effective_hourly_usd * 3 * 8760
    assert partial.upfront_usd == pytest.approx(total / 2)
    assert partial.upfront_usd + partial.recurring_hourly_usd * 3 * 8760 == pytest.approx(total)


def test_break_even_months_follow_from_upfront_and_hourly_gain() -> None:
    on_demand, offers = g6()
    by_key = {o.key: o for o in offers}
    all_upfront = by_key["1yr_standard_all_upfront"]
    expected = all_upfront.upfront_usd / (730 * on_demand)
    assert break_even_months(all_upfront, on_demand) == pytest.approx(expected)
    # Used three hours in four, it takes a third longer; past the term or below the break-even
    # utilization, never.
    assert break_even_months(all_upfront, on_demand, utilization=0.75) == pytest.approx(expected / 0.75)
    assert break_even_months(all_upfront, on_demand, utilization=0.5) is None
    floor = break_even_utilization(all_upfront, on_demand)
    assert break_even_months(all_upfront, on_demand, utilization=floor * 0.9) is None
    assert break_even_months(by_key["1yr_standard_no_upfront"], on_demand) == 0.0


def test_policy_limits_terms_classes_and_payments() -> None:
    it = PriceCatalog.load_default().get("g6.xlarge", REGION)
    one_year = cheapest_allowed_offer(it, CommitmentPolicy())
    assert one_year is not None and one_year.term_years == 1
    assert one_year.key == "1yr_standard_all_upfront"
    no_cash = CommitmentPolicy(terms_years=(1, 3), payments=(PaymentOption.NO_UPFRONT,))
    chosen = cheapest_allowed_offer(it, no_cash)
    assert chosen is not None and chosen.key == "3yr_standard_no_upfront"
    convertible = CommitmentPolicy(offering_classes=(OfferingClass.CONVERTIBLE,))
    flexible = cheapest_allowed_offer(it, convertible)
    assert flexible is not None and flexible.offering_class is OfferingClass.CONVERTIBLE
    assert cheapest_allowed_offer(it, CommitmentPolicy(terms_years=(2,))) is None


def test_savings_plan_equivalent_commits_the_reserved_rate_per_hour() -> None:
    _, offers = g6()
    by_key = {o.key: o for o in offers}
    standard = savings_plan_for(by_key["1yr_standard_no_upfront"], instances=3)
    assert standard.kind is SavingsPlanKind.EC2_INSTANCE
    assert standard.hourly_commitment_usd == pytest.approx(
        3 * by_key["1yr_standard_no_upfront"].effective_hourly_usd, abs=1e-3
    )
    assert savings_plan_for(by_key["1yr_convertible_no_upfront"], 1).kind is SavingsPlanKind.COMPUTE
