"""Reserved Instance purchases through boto3 against the twin's EC2 (moto with the catalog's market)."""

import pytest

from optiinfra.catalog.loader import PriceCatalog
from optiinfra.cloud import tags
from optiinfra.cloud.ec2 import SIMULATOR_CREDENTIALS, CloudActionError, Ec2Fleet
from optiinfra.cloud.reservations import ReservedCapacity
from optiinfra.sim.moto_server import reset_moto

REGION = "us-east-1"
OWNER = {tags.CUSTOMER: "acme", tags.WORKLOAD: "chat"}


@pytest.fixture
def reserved(moto_endpoint: str) -> ReservedCapacity:
    reset_moto(moto_endpoint)
    return ReservedCapacity(Ec2Fleet(REGION, moto_endpoint, SIMULATOR_CREDENTIALS).ec2)


async def test_quote_carries_the_catalogs_real_reserved_price(reserved: ReservedCapacity) -> None:
    quote = await reserved.quote(
        "g6.xlarge", term_years=1, offering_class="standard", offering_type="All Upfront"
    )
    effective = PriceCatalog.load_default().get("g6.xlarge", REGION).reserved_hourly_usd
    assert quote.upfront_usd == pytest.approx(effective["1yr_standard_all_upfront"] * 8760, abs=0.01)
    assert quote.recurring_hourly_usd == pytest.approx(0.0, abs=1e-6)
    no_upfront = await reserved.quote(
        "g6.xlarge", term_years=3, offering_class="convertible", offering_type="No Upfront"
    )
    assert no_upfront.upfront_usd == 0.0
    assert no_upfront.recurring_hourly_usd == pytest.approx(effective["3yr_convertible_no_upfront"])


async def test_unknown_offering_is_a_clear_non_retryable_error(reserved: ReservedCapacity) -> None:
    with pytest.raises(CloudActionError) as raised:
        await reserved.quote("m5.large", term_years=1, offering_class="standard", offering_type="No Upfront")
    assert raised.value.code == "NoMatchingOffering" and not raised.value.retryable


async def test_purchase_happens_once_per_step_and_is_found_for_the_workload(
    reserved: ReservedCapacity,
) -> None:
    quote = await reserved.quote(
        "g6.xlarge", term_years=1, offering_class="standard", offering_type="Partial Upfront"
    )
    first = await reserved.purchase(
        "wf/reserve-1", quote, count=2, max_upfront_usd=quote.upfront_usd * 2 + 1, owner_tags=OWNER
    )
    again = await reserved.purchase(
        "wf/reserve-1", quote, count=2, max_upfront_usd=quote.upfront_usd * 2 + 1, owner_tags=OWNER
    )
    assert not first.already_purchased and again.already_purchased
    assert again.reservation.reservation_id == first.reservation.reservation_id
    assert first.reservation.instance_count == 2 and first.reservation.state == "active"
    assert first.reservation.tags[tags.STEP_KEY] == "wf/reserve-1"
    listed = await reserved.active_for_workload("acme", "chat")
    assert [r.reservation_id for r in listed] == [first.reservation.reservation_id]
    assert await reserved.active_for_workload("acme", "other") == []


async def test_a_price_above_the_limit_buys_nothing(reserved: ReservedCapacity) -> None:
    quote = await reserved.quote(
        "g6.xlarge", term_years=1, offering_class="standard", offering_type="All Upfront"
    )
    with pytest.raises(CloudActionError) as raised:
        await reserved.purchase(
            "wf/reserve-1", quote, count=1, max_upfront_usd=quote.upfront_usd * 0.5, owner_tags=OWNER
        )
    assert raised.value.code == "InvalidParameterValue" and "limit price" in raised.value.message
    assert await reserved.find_purchased("wf/reserve-1") is None
    assert await reserved.active_for_workload("acme", "chat") == []
