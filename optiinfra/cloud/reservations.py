"""Reserved Instance purchases through the EC2 API: find the offering that matches a recommendation, buy
it at no more than the quoted upfront price, and find the purchase again by its step tag.

A purchase commits the customer to a term and cannot be undone, so it is made at most once per step: the
reservation is tagged with the step's idempotency key right after the purchase, and a retried step finds it
by that tag instead of buying again."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

from pydantic import BaseModel

from optiinfra.cloud import tags
from optiinfra.cloud.ec2 import CloudActionError, call_aws

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client

PRODUCT_DESCRIPTION: Final = "Linux/UNIX"
SECONDS_PER_YEAR = 365 * 24 * 3600
LIVE_STATES = ("payment-pending", "active")
"""States of a reservation that is bought (or being paid for) and applies to running instances."""


class ReservationQuote(BaseModel):
    offering_id: str
    instance_type: str
    term_years: int
    offering_class: str
    offering_type: str
    upfront_usd: float
    recurring_hourly_usd: float


class Reservation(BaseModel):
    reservation_id: str
    instance_type: str
    instance_count: int
    state: str
    offering_class: str
    offering_type: str
    duration_seconds: int
    upfront_usd: float
    start: datetime | None = None
    end: datetime | None = None
    tags: dict[str, str]


class PurchaseResult(BaseModel):
    reservation: Reservation
    already_purchased: bool

    @property
    def summary(self) -> str:
        r = self.reservation
        verb = "already reserved" if self.already_purchased else "reserved"
        return (
            f"{verb} {r.instance_count}x {r.instance_type} ({r.offering_class}, {r.offering_type}, "
            f"{r.duration_seconds // SECONDS_PER_YEAR} yr) as {r.reservation_id}"
        )


class ReservedCapacity:
    """Reservations of one region, through the same EC2 client as the fleet."""

    def __init__(self, ec2: EC2Client) -> None:
        self._ec2 = ec2

    async def quote(
        self, instance_type: str, *, term_years: int, offering_class: str, offering_type: str
    ) -> ReservationQuote:
        """The regional Linux offering for this type, term, class and payment option."""
        offerings = await call_aws(
            self._ec2.describe_reserved_instances_offerings,
            InstanceType=instance_type,  # type: ignore[arg-type]
            OfferingClass=offering_class,  # type: ignore[arg-type]
            OfferingType=offering_type,  # type: ignore[arg-type]
            ProductDescription=PRODUCT_DESCRIPTION,
            IncludeMarketplace=False,
            MinDuration=term_years * SECONDS_PER_YEAR,
            MaxDuration=term_years * SECONDS_PER_YEAR,
        )
        for raw in offerings.get("ReservedInstancesOfferings", []):
            if int(raw.get("Duration", 0)) == term_years * SECONDS_PER_YEAR and raw.get("Scope") == "Region":
                return ReservationQuote(
                    offering_id=raw["ReservedInstancesOfferingId"],
                    instance_type=instance_type,
                    term_years=term_years,
                    offering_class=offering_class,
                    offering_type=offering_type,
                    upfront_usd=float(raw.get("FixedPrice", 0.0)),
                    recurring_hourly_usd=sum(
                        float(c.get("Amount", 0.0))
                        for c in raw.get("RecurringCharges", [])
                        if c.get("Frequency") == "Hourly"
                    )
                    + float(raw.get("UsagePrice", 0.0)),
                )
        raise CloudActionError(
            "NoMatchingOffering",
            f"no {term_years}-year {offering_class} {offering_type} regional offering for {instance_type}",
            retryable=False,
        )

    async def purchase(
        self,
        step_key: str,
        quote: ReservationQuote,
        *,
        count: int,
        max_upfront_usd: float,
        owner_tags: dict[str, str],
    ) -> PurchaseResult:
        """Buy `count` reservations of the quoted offering unless this step already did; AWS refuses the
        purchase when the upfront price rose above `max_upfront_usd`."""
        existing = await self.find_purchased(step_key)
        if existing is not None:
            return PurchaseResult(reservation=existing, already_purchased=True)
        bought = await call_aws(
            self._ec2.purchase_reserved_instances_offering,
            ReservedInstancesOfferingId=quote.offering_id,
            InstanceCount=count,
            LimitPrice={"Amount": round(max_upfront_usd, 2), "CurrencyCode": "USD"},
        )
        reservation_id = bought["ReservedInstancesId"]
        await call_aws(
            self._ec2.create_tags,
            Resources=[reservation_id],
            Tags=tags.to_aws_tags({**owner_tags, tags.STEP_KEY: step_key}),
        )
        found = await self._describe(ReservedInstancesIds=[reservation_id])
        if not found:
            raise CloudActionError("ReservationNotFound", f"{reservation_id} is not listed", retryable=True)
        return PurchaseResult(reservation=found[0], already_purchased=False)

    async def active_for_workload(self, customer_id: str, workload_id: str) -> list[Reservation]:
        """Reservations bought for the workload (tagged at purchase) that still apply."""
        return await self._describe(
            Filters=[
                {"Name": f"tag:{tags.CUSTOMER}", "Values": [customer_id]},
                {"Name": f"tag:{tags.WORKLOAD}", "Values": [workload_id]},
                {"Name": "state", "Values": list(LIVE_STATES)},
            ]
        )

    async def find_purchased(self, step_key: str) -> Reservation | None:
        found = await self._describe(Filters=[{"Name": f"tag:{tags.STEP_KEY}", "Values": [step_key]}])
        return found[0] if found else None

    async def _describe(self, **request: Any) -> list[Reservation]:
        response = await call_aws(self._ec2.describe_reserved_instances, **request)
        return [_reservation(raw) for raw in response.get("ReservedInstances", [])]


def _reservation(raw: Any) -> Reservation:
    return Reservation(
        reservation_id=raw["ReservedInstancesId"],
        instance_type=raw["InstanceType"],
        instance_count=int(raw.get("InstanceCount", 0)),
        state=raw.get("State", "unknown"),
        offering_class=raw.get("OfferingClass", ""),
        offering_type=raw.get("OfferingType", ""),
        duration_seconds=int(raw.get("Duration", 0)),
        upfront_usd=float(raw.get("FixedPrice", 0.0)),
        start=raw.get("Start"),
        end=raw.get("End"),
        tags=tags.from_aws_tags(raw.get("Tags")),
    )
