"""Refreshes the GPU price catalog from the live AWS APIs, so prices can be brought up to date between
snapshot builds.

The bundled catalog (build.py) is distilled from dated public snapshots, and AWS changes prices. This
module re-reads, through boto3, every figure AWS publishes through an API and keeps the rest:

- on-demand and reserved: AWS Price List API (GetProducts, AmazonEC2, Linux, shared tenancy, no
  pre-installed software, capacitystatus Used), one paginated query per instance type and region;
  a reserved price is the effective hourly cost, upfront fee spread over the hours of the lease;
- spot: EC2 DescribeSpotPriceHistory (Linux/UNIX, every availability zone, the last 30 days), a
  time-weighted mean: each price counts for as long as it held;
- interruption bucket and spot savings percent: AWS publishes them only in the Spot Advisor feed, not
  through an API, so they stay as the base catalog has them.

Each region entry says which of its figures came from AWS in this run (`refreshed`: on-demand and
reserved; `spot_refreshed`: spot). Where AWS did not answer, the base figures stay, flagged false.

Run: python -m optiinfra.catalog.refresh --region us-east-1 [--profile NAME] [--output PATH]
"""

from __future__ import annotations

import argparse
import copy
import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, cast

import boto3

from optiinfra.catalog.build import BUNDLED_CATALOG_PATH, DEFAULT_REGIONS, finite_number, write_catalog
from optiinfra.cloud.ec2 import client_config

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client
    from mypy_boto3_ec2.literals import InstanceTypeType
    from mypy_boto3_ec2.type_defs import SpotPriceTypeDef

JsonDict = dict[str, Any]

PRICING_API_REGION = "us-east-1"
"""The Price List API runs in a few regions only; us-east-1 answers for the prices of every region."""
PRICE_LIST_SERVICE_CODE = "AmazonEC2"
PRICE_LIST_FORMAT_VERSION = "aws_v1"
PRICE_LIST_PAGE_SIZE = 100
"""GetProducts' largest MaxResults."""
PRICE_LIST_PRODUCT_FILTERS: tuple[tuple[str, str], ...] = (
    ("operatingSystem", "Linux"),
    ("tenancy", "Shared"),
    ("preInstalledSw", "NA"),
    ("capacitystatus", "Used"),
)
"""The product the catalog prices: plain Linux on shared hardware, paid per running instance hour."""
ON_DEMAND_MARKET_OPTIONS = frozenset({None, "OnDemand"})
"""Products of other markets (e.g. Capacity Blocks) can match the filters too; older items lack it."""

HOURS_PER_YEAR = 8760
LEASE_YEARS = {"1yr": 1, "3yr": 3}
OFFERING_CLASSES = frozenset({"standard", "convertible"})
UPFRONT_KEYS = {"No Upfront": "no", "Partial Upfront": "partial", "All Upfront": "all"}
HOURLY_UNIT = "Hrs"
UPFRONT_UNIT = "Quantity"
PRICE_DECIMALS = 6

SPOT_PRODUCT_DESCRIPTIONS = ("Linux/UNIX",)
SPOT_LOOKBACK_DAYS = 30
SPOT_HISTORY_MAX_DAYS = 90
"""AWS keeps 90 days of spot price history."""

PRICE_LIST_CALL = "pricing:GetProducts"
SPOT_HISTORY_CALL = "ec2:DescribeSpotPriceHistory"

INTERRUPTION_NOTE = (
    "spot_interruption_bucket, spot_savings_percent and spot_interruption_source are kept from the base "
    "catalog: AWS publishes interruption frequency only in the Spot Advisor feed, not through an API"
)


class PricingClient(Protocol):
    """The one Price List call we make (boto3-stubs for `pricing` is not installed, so typed loosely)."""

    def get_products(self, **kwargs: Any) -> Mapping[str, Any]: ...


class PriceFormatError(ValueError):
    """An AWS price answer this module cannot read; a clear failure beats a silently wrong price."""


class _Malformed(Exception):
    """Internal: what is wrong inside one answer, before the message names the instance type."""


@dataclass(frozen=True)
class ProductPrices:
    """What one Price List product says about one instance type in one region."""

    sku: str
    instance_type: str
    region_code: str | None
    market_option: str | None
    on_demand_hourly_usd: float | None
    reserved_hourly_usd: dict[str, float]


@dataclass(frozen=True)
class SpotPricePoint:
    """One spot price change: the price holds in its zone from `since` until the zone's next change."""

    availability_zone: str
    product_description: str
    price_usd: float
    since: datetime


@dataclass(frozen=True)
class SpotWindow:
    start: datetime
    end: datetime


# --- Price List: on-demand and reserved -------------------------------------------------------------


def fetch_product_prices(
    client: PricingClient, instance_type: str, region: str, api_calls: Counter[str]
) -> ProductPrices | None:
    """The on-demand-market product of one type in one region; None when AWS lists no such product."""
    products = [
        parse_price_list_item(raw, instance_type, region)
        for raw in _price_list_items(client, instance_type, region, api_calls)
    ]
    on_demand_market = [product for product in products if product.market_option in ON_DEMAND_MARKET_OPTIONS]
    if len(on_demand_market) > 1:
        skus = ", ".join(product.sku for product in on_demand_market)
        raise PriceFormatError(
            f"AWS Price List answered {len(on_demand_market)} products for {instance_type} in {region} "
            f"(SKUs {skus}); expected one"
        )
    return on_demand_market[0] if on_demand_market else None


def price_list_request(instance_type: str, region: str) -> JsonDict:
    """The GetProducts request (without NextToken) for one instance type in one region."""
    filters = [("instanceType", instance_type), ("regionCode", region), *PRICE_LIST_PRODUCT_FILTERS]
    return {
        "ServiceCode": PRICE_LIST_SERVICE_CODE,
        "Filters": [{"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in filters],
        "FormatVersion": PRICE_LIST_FORMAT_VERSION,
        "MaxResults": PRICE_LIST_PAGE_SIZE,
    }


def _price_list_items(
    client: PricingClient, instance_type: str, region: str, api_calls: Counter[str]
) -> Iterator[object]:
    """Every PriceList entry across pages: AWS may hand out empty pages that still carry a NextToken."""
    request = price_list_request(instance_type, region)
    next_token: str | None = None
    while True:
        page = client.get_products(**request, **({"NextToken": next_token} if next_token else {}))
        api_calls[PRICE_LIST_CALL] += 1
        yield from page.get("PriceList", [])
        next_token = page.get("NextToken")
        if not next_token:
            return


def parse_price_list_item(raw: object, instance_type: str, region: str) -> ProductPrices:
    """Read one PriceList entry (a JSON string, per the GetProducts documentation)."""
    try:
        item = json.loads(raw) if isinstance(raw, str) else raw
        prices = _product_prices(item)
        _check_product_matches(prices, instance_type, region)
    except (_Malformed, json.JSONDecodeError) as error:
        raise PriceFormatError(
            f"AWS Price List item for {instance_type} in {region} is malformed: {error}"
        ) from error
    return prices


def _product_prices(item: object) -> ProductPrices:
    product = _child(item, "product", "item")
    attributes = _mapping(_child(product, "attributes", "product"), "product.attributes")
    terms = _child(item, "terms", "item")
    return ProductPrices(
        sku=str(_child(product, "sku", "product")),
        instance_type=str(_child(attributes, "instanceType", "product.attributes")),
        region_code=_optional_str(attributes.get("regionCode")),
        market_option=_optional_str(attributes.get("marketoption")),
        on_demand_hourly_usd=_on_demand_hourly(_child(terms, "OnDemand", "terms")),
        reserved_hourly_usd=_reserved_hourly(_mapping(terms, "terms").get("Reserved", {})),
    )


def _check_product_matches(prices: ProductPrices, instance_type: str, region: str) -> None:
    """Guard against an answer for another product: a wrong price filed under this type is worse."""
    if prices.instance_type != instance_type:
        raise _Malformed(f"it describes instance type {prices.instance_type!r}")
    if prices.region_code is not None and prices.region_code != region:
        raise _Malformed(f"it describes region {prices.region_code!r}")


def _on_demand_hourly(on_demand_terms: object) -> float | None:
    """The single hourly price of the on-demand term; None when AWS lists it as zero."""
    hourly = [
        usd
        for term in _mapping(on_demand_terms, "terms.OnDemand").values()
        for unit, usd in _price_dimensions(term, "terms.OnDemand")
        if unit == HOURLY_UNIT
    ]
    if len(hourly) != 1:
        raise _Malformed(f"terms.OnDemand has {len(hourly)} hourly price dimensions, expected 1")
    return hourly[0] if hourly[0] > 0 else None


def _reserved_hourly(reserved_terms: object) -> dict[str, float]:
    """Effective hourly price per catalog key ('1yr_standard_partial_upfront'); other terms skipped."""
    prices: dict[str, float] = {}
    for term in _mapping(reserved_terms, "terms.Reserved").values():
        key_and_years = _reserved_key(_child(term, "termAttributes", "terms.Reserved term"))
        if key_and_years is None:
            continue
        key, years = key_and_years
        if key in prices:
            raise _Malformed(f"terms.Reserved has two {key} terms")
        price = _effective_hourly(_price_dimensions(term, f"terms.Reserved {key}"), years, key)
        if price > 0:
            prices[key] = price
    return dict(sorted(prices.items()))


def _reserved_key(attributes: object) -> tuple[str, int] | None:
    """Catalog key and lease years of a term; None for a term the catalog has no key for."""
    where = "terms.Reserved termAttributes"
    lease = _child(attributes, "LeaseContractLength", where)
    offering_class = _child(attributes, "OfferingClass", where)
    purchase_option = _child(attributes, "PurchaseOption", where)
    years = LEASE_YEARS.get(lease)
    upfront = UPFRONT_KEYS.get(purchase_option)
    if years is None or upfront is None or offering_class not in OFFERING_CLASSES:
        return None
    return f"{years}yr_{offering_class}_{upfront}_upfront", years


def _effective_hourly(dimensions: list[tuple[str, float]], years: int, key: str) -> float:
    """Upfront fee spread evenly over the lease's hours (365-day years), plus the hourly fee."""
    unknown_units = {unit for unit, _ in dimensions} - {HOURLY_UNIT, UPFRONT_UNIT}
    if unknown_units:
        raise _Malformed(f"terms.Reserved {key} has price units {sorted(unknown_units)} besides Hrs/Quantity")
    upfront = sum(usd for unit, usd in dimensions if unit == UPFRONT_UNIT)
    hourly = sum(usd for unit, usd in dimensions if unit == HOURLY_UNIT)
    return round(upfront / (HOURS_PER_YEAR * years) + hourly, PRICE_DECIMALS)


def _price_dimensions(term: object, where: str) -> list[tuple[str, float]]:
    """(unit, USD) of each price dimension of a term."""
    dimensions = _mapping(_child(term, "priceDimensions", where), f"{where} priceDimensions")
    return [
        (str(_child(dimension, "unit", f"{where} price dimension")), _usd(dimension, where))
        for dimension in dimensions.values()
    ]


def _usd(dimension: object, where: str) -> float:
    raw = _child(
        _child(dimension, "pricePerUnit", f"{where} price dimension"), "USD", f"{where} pricePerUnit"
    )
    value = finite_number(raw)
    if value is None or value < 0:
        raise _Malformed(f"{where} USD price {raw!r} is not a non-negative number")
    return value


def _child(parent: object, key: str, where: str) -> Any:
    if key not in _mapping(parent, where):
        raise _Malformed(f"{where} has no {key!r}")
    return cast("Mapping[str, Any]", parent)[key]


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise _Malformed(f"{where} is not a JSON object")
    return value


def _optional_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


# --- Spot price history ------------------------------------------------------------------------------


def fetch_spot_history(
    ec2: EC2Client, instance_types: Sequence[str], window: SpotWindow, api_calls: Counter[str]
) -> dict[str, list[SpotPricePoint]]:
    """Every Linux spot price change in the window, by instance type, across all pages and zones.

    AWS also returns the last change before the window's start: the price in effect when it opens.
    """
    paginator = ec2.get_paginator("describe_spot_price_history")
    pages = paginator.paginate(
        InstanceTypes=cast("list[InstanceTypeType]", list(instance_types)),
        ProductDescriptions=list(SPOT_PRODUCT_DESCRIPTIONS),
        StartTime=window.start,
        EndTime=window.end,
    )
    history: defaultdict[str, list[SpotPricePoint]] = defaultdict(list)
    for page in pages:
        api_calls[SPOT_HISTORY_CALL] += 1
        for record in page.get("SpotPriceHistory", []):
            instance_type, point = _spot_point(record)
            history[instance_type].append(point)
    return dict(history)


def _spot_point(record: SpotPriceTypeDef) -> tuple[str, SpotPricePoint]:
    instance_type = record.get("InstanceType", "<no instance type>")
    price = finite_number(record.get("SpotPrice"))
    zone = record.get("AvailabilityZone")
    since = record.get("Timestamp")
    if price is None or price < 0 or zone is None or since is None:
        raise PriceFormatError(f"AWS spot price history record for {instance_type} is incomplete: {record}")
    description = record.get("ProductDescription", "")
    return instance_type, SpotPricePoint(zone, description, price, since)


def time_weighted_spot_average(points: Iterable[SpotPricePoint], window: SpotWindow) -> float | None:
    """Mean price over the window, each price weighted by how long it held; zones pooled, so each zone
    counts for the time it had a price. None when no price held inside the window."""
    weighted_sum = 0.0
    total_seconds = 0.0
    for series in _series_by_zone(points).values():
        for price, seconds in _holding_periods(series, window):
            weighted_sum += price * seconds
            total_seconds += seconds
    if total_seconds <= 0:
        return None
    return round(weighted_sum / total_seconds, PRICE_DECIMALS)


def _series_by_zone(points: Iterable[SpotPricePoint]) -> dict[tuple[str, str], list[SpotPricePoint]]:
    """Price changes per zone and product description, oldest first: each is its own price series."""
    series: defaultdict[tuple[str, str], list[SpotPricePoint]] = defaultdict(list)
    for point in points:
        series[(point.availability_zone, point.product_description)].append(point)
    return {key: sorted(changes, key=lambda point: point.since) for key, changes in series.items()}


def _holding_periods(series: list[SpotPricePoint], window: SpotWindow) -> Iterator[tuple[float, float]]:
    """(price, seconds it held inside the window) for each change of one zone's series."""
    next_changes = [point.since for point in series[1:]] + [window.end]
    for point, until in zip(series, next_changes, strict=True):
        held = min(until, window.end) - max(point.since, window.start)
        if held.total_seconds() > 0:
            yield point.price_usd, held.total_seconds()


def regional_spot_averages(
    ec2: EC2Client, instance_types: Sequence[str], window: SpotWindow, api_calls: Counter[str]
) -> dict[str, float]:
    """Spot average per instance type in one region; types without history in the window are absent."""
    history = fetch_spot_history(ec2, instance_types, window, api_calls)
    averages = {name: time_weighted_spot_average(points, window) for name, points in history.items()}
    return {name: average for name, average in averages.items() if average is not None}


# --- The catalog -------------------------------------------------------------------------------------


def refresh_catalog(
    base: Mapping[str, Any],
    *,
    regions: Sequence[str],
    pricing_client: PricingClient,
    ec2_clients_by_region: Mapping[str, EC2Client],
    now: datetime,
    spot_lookback_days: int = SPOT_LOOKBACK_DAYS,
) -> JsonDict:
    """A copy of `base` with the prices of its instance types in `regions` re-read from AWS.

    The instance types and their specs come from the base; a type AWS newly prices in one of `regions`
    gains a region entry (with no interruption data). Base entries AWS did not answer for keep their
    figures and are flagged `refreshed: false` / `spot_refreshed: false`.
    """
    window = _spot_window(now, spot_lookback_days)
    _check_clients(regions, ec2_clients_by_region)
    refreshed = copy.deepcopy(dict(base))
    _flag_all_region_entries_stale(refreshed)
    names = [entry["name"] for entry in refreshed["instance_types"]]
    api_calls: Counter[str] = Counter()
    for region in regions:
        spot_averages = regional_spot_averages(ec2_clients_by_region[region], names, window, api_calls)
        for entry in refreshed["instance_types"]:
            prices = fetch_product_prices(pricing_client, entry["name"], region, api_calls)
            _refresh_region(entry, region, prices, spot_averages.get(entry["name"]))
    refreshed["source"] = _refresh_provenance(base, regions, window, api_calls, _refresh_counts(refreshed))
    refreshed["built_at"] = now.astimezone(UTC).isoformat(timespec="seconds")
    return refreshed


def _spot_window(now: datetime, lookback_days: int) -> SpotWindow:
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware: AWS timestamps are UTC")
    if not 1 <= lookback_days <= SPOT_HISTORY_MAX_DAYS:
        raise ValueError(f"spot_lookback_days must be 1..{SPOT_HISTORY_MAX_DAYS} (AWS keeps 90 days)")
    return SpotWindow(start=now - timedelta(days=lookback_days), end=now)


def _check_clients(regions: Sequence[str], ec2_clients_by_region: Mapping[str, EC2Client]) -> None:
    missing = [region for region in regions if region not in ec2_clients_by_region]
    if missing:
        raise ValueError(f"no EC2 client for regions {missing}: spot history is read per region")


def _flag_all_region_entries_stale(catalog: JsonDict) -> None:
    """Flags describe this run only, so every entry starts false, including ones from an earlier run."""
    for entry in catalog["instance_types"]:
        for region_entry in entry["regions"].values():
            region_entry["refreshed"] = False
            region_entry["spot_refreshed"] = False


def _refresh_region(entry: JsonDict, region: str, prices: ProductPrices | None, spot: float | None) -> None:
    """Write the live figures into one type's region entry, adding the entry if AWS newly prices it.

    Reserved prices are replaced as a whole: a product without reserved terms means AWS sells none.
    """
    on_demand = prices.on_demand_hourly_usd if prices is not None else None
    region_entry = entry["regions"].get(region)
    if region_entry is None:
        if on_demand is None:
            return
        region_entry = entry["regions"][region] = _new_region_entry()
    if prices is not None and on_demand is not None:
        region_entry["on_demand_hourly_usd"] = on_demand
        region_entry["reserved_hourly_usd"] = dict(prices.reserved_hourly_usd)
        region_entry["refreshed"] = True
    if spot is not None:
        region_entry["spot_hourly_usd"] = spot
        region_entry["spot_refreshed"] = True


def _new_region_entry() -> JsonDict:
    """A region the base did not price the type in: no interruption data exists for it."""
    return {
        "on_demand_hourly_usd": None,
        "spot_hourly_usd": None,
        "spot_interruption_bucket": None,
        "spot_savings_percent": None,
        "spot_interruption_source": None,
        "reserved_hourly_usd": {},
        "refreshed": False,
        "spot_refreshed": False,
    }


def _refresh_counts(catalog: JsonDict) -> dict[str, int]:
    region_entries = [entry for raw in catalog["instance_types"] for entry in raw["regions"].values()]
    prices_refreshed = sum(1 for entry in region_entries if entry["refreshed"])
    spot_refreshed = sum(1 for entry in region_entries if entry["spot_refreshed"])
    return {
        "region_entries": len(region_entries),
        "prices_refreshed": prices_refreshed,
        "prices_kept_from_base": len(region_entries) - prices_refreshed,
        "spot_refreshed": spot_refreshed,
        "spot_kept_from_base": len(region_entries) - spot_refreshed,
    }


def _refresh_provenance(
    base: Mapping[str, Any],
    regions: Sequence[str],
    window: SpotWindow,
    api_calls: Counter[str],
    counts: dict[str, int],
) -> JsonDict:
    """The base's provenance plus what this refresh asked AWS, when, and how answers became figures."""
    source = copy.deepcopy(dict(base.get("source", {})))
    source["regions"] = list(dict.fromkeys([*source.get("regions", []), *regions]))
    source["aws_refresh"] = {
        "refreshed_at": window.end.astimezone(UTC).isoformat(timespec="seconds"),
        "regions": list(regions),
        "api_calls": {call: api_calls[call] for call in (PRICE_LIST_CALL, SPOT_HISTORY_CALL)},
        "on_demand_and_reserved": {
            "api": f"AWS Price List GetProducts in {PRICING_API_REGION}",
            "service_code": PRICE_LIST_SERVICE_CODE,
            "filters": dict(PRICE_LIST_PRODUCT_FILTERS),
            "reserved": f"effective hourly = upfront fee / ({HOURS_PER_YEAR} h x lease years) + hourly fee",
        },
        "spot": {
            "api": "EC2 DescribeSpotPriceHistory, all availability zones",
            "product_descriptions": list(SPOT_PRODUCT_DESCRIPTIONS),
            "window_start": window.start.astimezone(UTC).isoformat(timespec="seconds"),
            "window_end": window.end.astimezone(UTC).isoformat(timespec="seconds"),
            "average": "time-weighted: each price weighted by how long it held in the window, zones pooled",
        },
        "interruption": INTERRUPTION_NOTE,
        "base_built_at": base.get("built_at"),
        "counts": counts,
    }
    return source


# --- Live AWS entry points ---------------------------------------------------------------------------


def refresh_from_aws(
    base_path_or_bundled: Path | None, regions: Sequence[str], session: boto3.session.Session
) -> JsonDict:
    """Refresh a catalog file (None: the bundled one) with clients from `session`'s credentials."""
    base_path = base_path_or_bundled or BUNDLED_CATALOG_PATH
    base: JsonDict = json.loads(base_path.read_text(encoding="utf-8"))
    pricing = cast(
        "PricingClient", session.client("pricing", region_name=PRICING_API_REGION, config=client_config())
    )
    ec2_clients = {
        region: session.client("ec2", region_name=region, config=client_config()) for region in regions
    }
    return refresh_catalog(
        base,
        regions=regions,
        pricing_client=pricing,
        ec2_clients_by_region=ec2_clients,
        now=datetime.now(UTC),
    )


def main(argv: Sequence[str] | None = None) -> None:
    """Refresh the bundled catalog from the live AWS APIs and write it (default: over the bundled file)."""
    args = _parse_args(argv)
    session = boto3.session.Session(profile_name=args.profile)
    catalog = refresh_from_aws(None, tuple(args.regions or DEFAULT_REGIONS), session)
    write_catalog(catalog, args.output)
    refresh = catalog["source"]["aws_refresh"]
    print(
        f"refreshed prices of {refresh['counts']['prices_refreshed']} and spot of "
        f"{refresh['counts']['spot_refreshed']} of {refresh['counts']['region_entries']} region entries "
        f"with {refresh['api_calls']}; wrote {args.output}"
    )


def _parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--region", action="append", dest="regions", help="repeat; default: the big six")
    parser.add_argument("--output", type=Path, default=BUNDLED_CATALOG_PATH, help="where to write the JSON")
    parser.add_argument("--profile", default=None, help="AWS profile; default: boto3's credential chain")
    return parser.parse_args(argv)


if __name__ == "__main__":
    main()
