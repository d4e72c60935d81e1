"""Reserved Instances and Savings Plans as offers: term, class, payment option, what is paid upfront and
per hour, and when the commitment pays for itself.

The catalog holds each reservation's effective hourly cost (upfront amortised over the term). All Upfront
pays it all at purchase and No Upfront none; for Partial Upfront AWS bills about half of the term's total
upfront, and that split is assumed here (the Pricing API refresh reads the exact fee where it has it).

Savings Plans have no price list of their own in the catalog: AWS prices an EC2 Instance Savings Plan at the
Standard Reserved Instance rate of the same family, term and payment, and a Compute Savings Plan at the
Convertible rate, which is what `savings_plan_for` uses."""

from enum import StrEnum

from pydantic import BaseModel, Field

from agents.cost.pricing import HOURS_PER_MONTH
from optiinfra.domain.fleet import InstanceType

HOURS_PER_YEAR = 8760.0
PARTIAL_UPFRONT_SHARE = 0.5
"""Share of a Partial Upfront reservation's total cost paid at purchase."""


class OfferingClass(StrEnum):
    STANDARD = "standard"
    CONVERTIBLE = "convertible"


class PaymentOption(StrEnum):
    NO_UPFRONT = "no_upfront"
    PARTIAL_UPFRONT = "partial_upfront"
    ALL_UPFRONT = "all_upfront"

    @property
    def aws_offering_type(self) -> str:
        """The OfferingType value of the EC2 API."""
        return {
            PaymentOption.NO_UPFRONT: "No Upfront",
            PaymentOption.PARTIAL_UPFRONT: "Partial Upfront",
            PaymentOption.ALL_UPFRONT: "All Upfront",
        }[self]


class SavingsPlanKind(StrEnum):
    EC2_INSTANCE = "ec2_instance"
    COMPUTE = "compute"


class ReservedOffer(BaseModel):
    """One Reserved Instance offer for one instance type in one region."""

    instance_type: str
    region: str
    term_years: int = Field(ge=1, le=3)
    offering_class: OfferingClass
    payment: PaymentOption
    effective_hourly_usd: float = Field(gt=0)

    @property
    def key(self) -> str:
        return f"{self.term_years}yr_{self.offering_class.value}_{self.payment.value}"

    @property
    def term_hours(self) -> float:
        return self.term_years * HOURS_PER_YEAR

    @property
    def upfront_usd(self) -> float:
        total = self.effective_hourly_usd * self.term_hours
        share = {
            PaymentOption.NO_UPFRONT: 0.0,
            PaymentOption.PARTIAL_UPFRONT: PARTIAL_UPFRONT_SHARE,
            PaymentOption.ALL_UPFRONT: 1.0,
        }[self.payment]
        return total * share

    @property
    def recurring_hourly_usd(self) -> float:
        return self.effective_hourly_usd - self.upfront_usd / self.term_hours


class CommitmentPolicy(BaseModel):
    """Which commitments a customer accepts. Defaults are the cautious ones: one-year terms, convertible or
    standard, any payment option; three years only when the customer opts in."""

    terms_years: tuple[int, ...] = (1,)
    offering_classes: tuple[OfferingClass, ...] = (OfferingClass.STANDARD, OfferingClass.CONVERTIBLE)
    payments: tuple[PaymentOption, ...] = (
        PaymentOption.NO_UPFRONT,
        PaymentOption.PARTIAL_UPFRONT,
        PaymentOption.ALL_UPFRONT,
    )
    min_history_days: float = Field(default=30.0, ge=1.0)
    baseline_quantile: float = Field(
        default=0.05, ge=0.0, le=0.5, description="Instances running in all but this share of hours"
    )

    def allows(self, offer: ReservedOffer) -> bool:
        return (
            offer.term_years in self.terms_years
            and offer.offering_class in self.offering_classes
            and offer.payment in self.payments
        )


def reserved_offers(instance_type: InstanceType) -> list[ReservedOffer]:
    """Every reservation the catalog prices for this type, parsed from keys like
    `1yr_standard_partial_upfront`; unknown keys are skipped."""
    offers: list[ReservedOffer] = []
    for key, hourly in instance_type.reserved_hourly_usd.items():
        term, _, rest = key.partition("yr_")
        offering_class, _, payment = rest.partition("_")
        try:
            offer = ReservedOffer(
                instance_type=instance_type.name,
                region=instance_type.region,
                term_years=int(term),
                offering_class=OfferingClass(offering_class),
                payment=PaymentOption(payment),
                effective_hourly_usd=hourly,
            )
        except ValueError:
            continue
        offers.append(offer)
    return sorted(offers, key=lambda o: (o.effective_hourly_usd, o.key))


def cheapest_allowed_offer(instance_type: InstanceType, policy: CommitmentPolicy) -> ReservedOffer | None:
    """The lowest effective hourly cost among the offers the policy allows."""
    allowed = [o for o in reserved_offers(instance_type) if policy.allows(o)]
    return allowed[0] if allowed else None


def break_even_utilization(offer: ReservedOffer, on_demand_hourly_usd: float) -> float:
    """Share of the term's hours an instance must run for the reservation to cost less than on-demand."""
    return offer.effective_hourly_usd / on_demand_hourly_usd


def break_even_months(
    offer: ReservedOffer, on_demand_hourly_usd: float, utilization: float = 1.0
) -> float | None:
    """Months until the on-demand cost avoided pays back what the reservation cost so far (upfront plus
    recurring charges, billed every hour whether used or not); None when it never does within the term."""
    monthly_gain = HOURS_PER_MONTH * (on_demand_hourly_usd * utilization - offer.recurring_hourly_usd)
    if monthly_gain <= 0:
        return None
    months = offer.upfront_usd / monthly_gain
    return months if months <= offer.term_years * 12 else None


class SavingsPlanOffer(BaseModel):
    """A Savings Plan commitment equivalent to reserving `instances` of a type with one offer."""

    kind: SavingsPlanKind
    term_years: int
    payment: PaymentOption
    hourly_commitment_usd: float
    instances: int


def savings_plan_for(offer: ReservedOffer, instances: int) -> SavingsPlanOffer:
    """The Savings Plan that gives the same discount as the reservation: Standard rates for an EC2 Instance
    plan (bound to the family and region), Convertible rates for a Compute plan (any family, any region)."""
    kind = (
        SavingsPlanKind.EC2_INSTANCE
        if offer.offering_class is OfferingClass.STANDARD
        else SavingsPlanKind.COMPUTE
    )
    return SavingsPlanOffer(
        kind=kind,
        term_years=offer.term_years,
        payment=offer.payment,
        hourly_commitment_usd=round(offer.effective_hourly_usd * instances, 4),
        instances=instances,
    )
