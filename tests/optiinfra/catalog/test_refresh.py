"""Refreshing the price catalog from the AWS APIs.

What runs against what:
- Spot price history: the real moto server over HTTP (moto serves DescribeSpotPriceHistory, with one
  fixed price per availability zone, and ignores the time window and pagination), plus botocore's
  `Stubber` on an EC2 client for what moto cannot show: the request's window and filters, NextToken
  pages and prices that change inside the window.
- Price List (on-demand and reserved): moto has no Pricing API, so these tests use botocore's `Stubber`
  on a real boto3 `pricing` client, fed responses that follow the documented GetProducts format
  (PriceList entries are JSON strings holding `product` and `terms.OnDemand` / `terms.Reserved`).
- No test reaches the real AWS.
"""

import json
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from botocore.stub import Stubber

from optiinfra.catalog import PriceCatalog
from optiinfra.catalog import refresh as refresh_module
from optiinfra.catalog.build import BUNDLED_CATALOG_PATH
from optiinfra.catalog.refresh import (
    PRICE_LIST_CALL,
    SPOT_HISTORY_CALL,
    PriceFormatError,
    SpotPricePoint,
    SpotWindow,
    fetch_product_prices,
    fetch_spot_history,
    main,
    price_list_request,
    refresh_catalog,
    refresh_from_aws,
    regional_spot_averages,
    time_weighted_spot_average,
)
from optiinfra.cloud.ec2 import SIMULATOR_CREDENTIALS, aws_session

if TYPE_CHECKING:
    from mypy_boto3_ec2.client import EC2Client

JsonDict = dict[str, Any]

REGION = "us-east-1"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WINDOW = SpotWindow(start=NOW - timedelta(days=30), end=NOW)
MOTO_SPOT_PRICE = 0.00001
"""The one spot price moto answers for every instance type and zone."""


@dataclass(frozen=True)
class ReservedTerm:
    lease: str
    offering_class: str
    purchase_option: str
    upfront_usd: str | None
    hourly_usd: str


P5_RESERVED_TERMS = (
    ReservedTerm("1yr", "standard", "No Upfront", None, "40.0000000000"),
    ReservedTerm("1yr", "standard", "Partial Upfront", "175200", "19.5000000000"),
    ReservedTerm("1yr", "convertible", "All Upfront", "341640", "0.0000000000"),
    ReservedTerm("3yr", "standard", "All Upfront", "525600", "0.0000000000"),
    ReservedTerm("3yr", "convertible", "Partial Upfront", "394200", "15.2500000000"),
)
P5_EFFECTIVE_HOURLY = {
    "1yr_convertible_all_upfront": 39.0,  # 341640 / 8760
    "1yr_standard_no_upfront": 40.0,
    "1yr_standard_partial_upfront": 39.5,  # 175200 / 8760 + 19.5
    "3yr_convertible_partial_upfront": 30.25,  # 394200 / 26280 + 15.25
    "3yr_standard_all_upfront": 20.0,  # 525600 / 26280
}


def price_list_item(
    instance_type: str,
    region: str = REGION,
    *,
    on_demand_usd: str = "50.0000000000",
    reserved: Sequence[ReservedTerm] = (),
    market_option: str = "OnDemand",
    sku: str = "TESTSKU0000000001",
) -> str:
    """One GetProducts PriceList entry, shaped as AWS documents it (a JSON string)."""
    reserved_terms = dict(_reserved_term(sku, index, term) for index, term in enumerate(reserved))
    return json.dumps(
        {
            "product": {
                "productFamily": "Compute Instance",
                "attributes": {
                    "instanceType": instance_type,
                    "regionCode": region,
                    "location": "US East (N. Virginia)",
                    "operatingSystem": "Linux",
                    "tenancy": "Shared",
                    "preInstalledSw": "NA",
                    "capacitystatus": "Used",
                    "marketoption": market_option,
                    "servicecode": "AmazonEC2",
                },
                "sku": sku,
            },
            "serviceCode": "AmazonEC2",
            "terms": {
                "OnDemand": {f"{sku}.JRTCKXETXF": _term(sku, "JRTCKXETXF", {"Hrs": on_demand_usd}, {})},
                "Reserved": reserved_terms,
            },
            "version": "20260215000000",
            "publicationDate": "2026-02-15T00:00:00Z",
        }
    )


def _reserved_term(sku: str, index: int, term: ReservedTerm) -> tuple[str, JsonDict]:
    offer = f"RESERVED{index:02d}"
    prices = {"Hrs": term.hourly_usd} | ({"Quantity": term.upfront_usd} if term.upfront_usd else {})
    attributes = {
        "LeaseContractLength": term.lease,
        "OfferingClass": term.offering_class,
        "PurchaseOption": term.purchase_option,
    }
    return f"{sku}.{offer}", _term(sku, offer, prices, attributes)


def _term(sku: str, offer: str, usd_by_unit: Mapping[str, str], attributes: Mapping[str, str]) -> JsonDict:
    dimensions = {
        f"{sku}.{offer}.{unit.upper()}": {
            "unit": unit,
            "description": "Upfront Fee" if unit == "Quantity" else f"{unit} price",
            "appliesTo": [],
            "rateCode": f"{sku}.{offer}.{unit.upper()}",
            "pricePerUnit": {"USD": usd},
            **({"beginRange": "0", "endRange": "Inf"} if unit == "Hrs" else {}),
        }
        for unit, usd in usd_by_unit.items()
    }
    return {
        "offerTermCode": offer,
        "sku": sku,
        "effectiveDate": "2026-02-01T00:00:00Z",
        "priceDimensions": dimensions,
        "termAttributes": dict(attributes),
    }


def documented_request(instance_type: str, region: str, next_token: str | None = None) -> JsonDict:
    """The GetProducts request the brief names, written out here rather than taken from the module."""
    filters = {
        "instanceType": instance_type,
        "regionCode": region,
        "operatingSystem": "Linux",
        "tenancy": "Shared",
        "preInstalledSw": "NA",
        "capacitystatus": "Used",
    }
    request: JsonDict = {
        "ServiceCode": "AmazonEC2",
        "Filters": [
            {"Type": "TERM_MATCH", "Field": field, "Value": value} for field, value in filters.items()
        ],
        "FormatVersion": "aws_v1",
        "MaxResults": 100,
    }
    return request | ({"NextToken": next_token} if next_token else {})


@pytest.fixture
def pricing() -> Iterator[tuple[Any, Stubber]]:
    client = aws_session(REGION, SIMULATOR_CREDENTIALS).client("pricing", region_name=REGION)
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


@pytest.fixture
def moto_ec2(moto_endpoint: str) -> "EC2Client":
    return aws_session(REGION, SIMULATOR_CREDENTIALS).client("ec2", endpoint_url=moto_endpoint)


def page(*items: str, next_token: str | None = None) -> JsonDict:
    return {"FormatVersion": "aws_v1", "PriceList": list(items)} | (
        {"NextToken": next_token} if next_token else {}
    )


# --- Price List parsing (Stubber) ---------------------------------------------------------------------


def test_on_demand_and_every_reserved_term_become_effective_hourly_prices(
    pricing: tuple[Any, Stubber],
) -> None:
    client, stubber = pricing
    item = price_list_item("p5.48xlarge", on_demand_usd="55.0400000000", reserved=P5_RESERVED_TERMS)
    stubber.add_response("get_products", page(item), documented_request("p5.48xlarge", REGION))

    prices = fetch_product_prices(client, "p5.48xlarge", REGION, Counter())

    assert prices is not None
    assert prices.on_demand_hourly_usd == 55.04
    assert prices.reserved_hourly_usd == P5_EFFECTIVE_HOURLY


def test_pages_are_followed_by_next_token_and_counted(pricing: tuple[Any, Stubber]) -> None:
    client, stubber = pricing
    stubber.add_response("get_products", page(next_token="page-2"), documented_request("g5.xlarge", REGION))
    stubber.add_response(
        "get_products",
        page(price_list_item("g5.xlarge", on_demand_usd="1.0060000000"), next_token="page-3"),
        documented_request("g5.xlarge", REGION, "page-2"),
    )
    stubber.add_response("get_products", page(), documented_request("g5.xlarge", REGION, "page-3"))
    api_calls: Counter[str] = Counter()

    prices = fetch_product_prices(client, "g5.xlarge", REGION, api_calls)

    assert prices is not None
    assert prices.on_demand_hourly_usd == 1.006
    assert prices.reserved_hourly_usd == {}
    assert api_calls == {PRICE_LIST_CALL: 3}


def test_no_product_means_no_price(pricing: tuple[Any, Stubber]) -> None:
    client, stubber = pricing
    stubber.add_response("get_products", page(), documented_request("g2.2xlarge", REGION))

    assert fetch_product_prices(client, "g2.2xlarge", REGION, Counter()) is None


def test_products_of_another_market_are_ignored(pricing: tuple[Any, Stubber]) -> None:
    client, stubber = pricing
    other_market = price_list_item(
        "p5.48xlarge", on_demand_usd="31.4640000000", market_option="CapacityBlock"
    )
    on_demand = price_list_item("p5.48xlarge", on_demand_usd="55.0400000000", sku="TESTSKU0000000002")
    stubber.add_response(
        "get_products", page(other_market, on_demand), documented_request("p5.48xlarge", REGION)
    )

    prices = fetch_product_prices(client, "p5.48xlarge", REGION, Counter())

    assert prices is not None
    assert (prices.sku, prices.on_demand_hourly_usd) == ("TESTSKU0000000002", 55.04)


def test_two_on_demand_products_for_one_type_are_refused(pricing: tuple[Any, Stubber]) -> None:
    client, stubber = pricing
    first = price_list_item("p5.48xlarge", sku="TESTSKU0000000001")
    second = price_list_item("p5.48xlarge", sku="TESTSKU0000000002")
    stubber.add_response("get_products", page(first, second), documented_request("p5.48xlarge", REGION))

    with pytest.raises(PriceFormatError, match=r"2 products for p5\.48xlarge in us-east-1"):
        fetch_product_prices(client, "p5.48xlarge", REGION, Counter())


def _without_reserved_attributes(item: str) -> str:
    parsed = json.loads(item)
    for term in parsed["terms"]["Reserved"].values():
        del term["termAttributes"]
    return json.dumps(parsed)


MALFORMED_ITEMS = {
    "not JSON": ('{"product": {"sku": "TESTSKU"', "Expecting"),
    "no terms": (json.dumps({"product": json.loads(price_list_item("p5.48xlarge"))["product"]}), "'terms'"),
    "price not a number": (
        price_list_item("p5.48xlarge", on_demand_usd="n/a"),
        "'n/a' is not a non-negative",
    ),
    "reserved term without attributes": (
        _without_reserved_attributes(price_list_item("p5.48xlarge", reserved=P5_RESERVED_TERMS[:1])),
        "'termAttributes'",
    ),
    "another instance type": (price_list_item("p5.4xlarge"), "'p5.4xlarge'"),
}


@pytest.mark.parametrize(("item", "problem"), MALFORMED_ITEMS.values(), ids=MALFORMED_ITEMS.keys())
def test_a_malformed_item_raises_an_error_naming_the_instance_type(
    pricing: tuple[Any, Stubber], item: str, problem: str
) -> None:
    client, stubber = pricing
    stubber.add_response("get_products", page(item), documented_request("p5.48xlarge", REGION))

    with pytest.raises(PriceFormatError) as raised:
        fetch_product_prices(client, "p5.48xlarge", REGION, Counter())

    message = str(raised.value)
    assert "for p5.48xlarge in us-east-1 is malformed" in message
    assert problem in message


# --- Spot price history -------------------------------------------------------------------------------


def point(zone: str, price: float, days_after_window_start: float) -> SpotPricePoint:
    return SpotPricePoint(zone, "Linux/UNIX", price, WINDOW.start + timedelta(days=days_after_window_start))


def test_spot_average_weights_each_price_by_how_long_it_held() -> None:
    points = [
        point("us-east-1a", 1.0, -5),  # in effect when the window opens, until day 10
        point("us-east-1a", 3.0, 10),  # until the window closes: 20 days
        point("us-east-1b", 2.0, 15),  # zone b priced only from day 15: 15 days
    ]

    assert time_weighted_spot_average(points, WINDOW) == pytest.approx((1 * 10 + 3 * 20 + 2 * 15) / 45)


def test_spot_changes_superseded_before_the_window_do_not_count() -> None:
    points = [point("us-east-1a", 9.0, -20), point("us-east-1a", 4.0, -1), point("us-east-1a", 9.0, 31)]

    assert time_weighted_spot_average(points, WINDOW) == 4.0


def test_no_spot_price_inside_the_window_gives_no_average() -> None:
    assert time_weighted_spot_average([point("us-east-1a", 2.0, 30)], WINDOW) is None
    assert time_weighted_spot_average([], WINDOW) is None


def test_spot_history_is_read_from_moto_over_http(moto_ec2: "EC2Client") -> None:
    api_calls: Counter[str] = Counter()

    history = fetch_spot_history(moto_ec2, ["p5.48xlarge", "g5.xlarge", "zz9.unknown"], WINDOW, api_calls)

    assert set(history) == {"p5.48xlarge", "g5.xlarge"}
    p5_zones = {spot.availability_zone for spot in history["p5.48xlarge"]}
    assert len(p5_zones) > 1
    assert all(zone.startswith(REGION) for zone in p5_zones)
    assert api_calls == {SPOT_HISTORY_CALL: 1}
    averages = regional_spot_averages(moto_ec2, ["p5.48xlarge", "zz9.unknown"], WINDOW, api_calls)
    assert averages == {"p5.48xlarge": MOTO_SPOT_PRICE}


def test_spot_history_asks_for_linux_in_the_window_and_follows_pages() -> None:
    ec2 = aws_session(REGION, SIMULATOR_CREDENTIALS).client("ec2", region_name=REGION)
    request = {
        "InstanceTypes": ["p5.48xlarge"],
        "ProductDescriptions": ["Linux/UNIX"],
        "StartTime": WINDOW.start,
        "EndTime": WINDOW.end,
    }
    first = [_spot_record("us-east-1a", "10.0", WINDOW.start - timedelta(days=3))]
    second = [_spot_record("us-east-1a", "40.0", WINDOW.start + timedelta(days=20))]
    api_calls: Counter[str] = Counter()
    with Stubber(ec2) as stubber:
        stubber.add_response(
            "describe_spot_price_history", {"SpotPriceHistory": first, "NextToken": "n2"}, request
        )
        stubber.add_response(
            "describe_spot_price_history", {"SpotPriceHistory": second}, request | {"NextToken": "n2"}
        )
        averages = regional_spot_averages(ec2, ["p5.48xlarge"], WINDOW, api_calls)
        stubber.assert_no_pending_responses()

    assert averages == {"p5.48xlarge": 20.0}  # (10 x 20 days + 40 x 10 days) / 30 days
    assert api_calls == {SPOT_HISTORY_CALL: 2}


def _spot_record(zone: str, price: str, timestamp: datetime) -> JsonDict:
    return {
        "AvailabilityZone": zone,
        "InstanceType": "p5.48xlarge",
        "ProductDescription": "Linux/UNIX",
        "SpotPrice": price,
        "Timestamp": timestamp,
    }


# --- The refreshed catalog (full bundled catalog; pricing stubbed, spot from moto) --------------------

ADDED_TYPE = "p6-b300.48xlarge"
"""The base has no us-east-1 entry for it: AWS pricing it there adds one."""
PRICED = {
    "p5.48xlarge": price_list_item("p5.48xlarge", on_demand_usd="49.9000000000", reserved=P5_RESERVED_TERMS),
    "g5.xlarge": price_list_item("g5.xlarge", on_demand_usd="0.9990000000", sku="TESTSKU0000000003"),
    ADDED_TYPE: price_list_item(ADDED_TYPE, on_demand_usd="142.4200000000", sku="TESTSKU0000000004"),
}


@dataclass(frozen=True)
class Refreshed:
    base: JsonDict
    catalog: JsonDict


@pytest.fixture(scope="module")
def refreshed(moto_endpoint: str) -> Refreshed:
    base: JsonDict = json.loads(BUNDLED_CATALOG_PATH.read_text())
    pricing = aws_session(REGION, SIMULATOR_CREDENTIALS).client("pricing", region_name=REGION)
    ec2 = aws_session(REGION, SIMULATOR_CREDENTIALS).client("ec2", endpoint_url=moto_endpoint)
    with Stubber(pricing) as stubber:
        for entry in base["instance_types"]:
            items = [PRICED[entry["name"]]] if entry["name"] in PRICED else []
            stubber.add_response("get_products", page(*items), price_list_request(entry["name"], REGION))
        catalog = refresh_catalog(
            base, regions=[REGION], pricing_client=pricing, ec2_clients_by_region={REGION: ec2}, now=NOW
        )
        stubber.assert_no_pending_responses()
    return Refreshed(base, catalog)


def figures(catalog: Mapping[str, Any]) -> dict[tuple[str, str, str], object]:
    """Every spec and price, keyed (type, region, field); the refresh flags are not figures."""
    found: dict[tuple[str, str, str], object] = {}
    for entry in catalog["instance_types"]:
        for region, prices in entry["regions"].items():
            found |= {(entry["name"], region, key): value for key, value in entry.items() if key != "regions"}
            found |= {
                (entry["name"], region, key): value for key, value in prices.items() if "refreshed" not in key
            }
    return found


def spot_refreshed_types(catalog: Mapping[str, Any], region: str) -> set[str]:
    return {
        entry["name"]
        for entry in catalog["instance_types"]
        if entry["regions"].get(region, {}).get("spot_refreshed")
    }


def test_refresh_changes_exactly_the_refreshed_figures(refreshed: Refreshed) -> None:
    before, after = figures(refreshed.base), figures(refreshed.catalog)
    spot_types = spot_refreshed_types(refreshed.catalog, REGION)
    added = {key for key in after if key not in before}
    changed = {key for key in before if before[key] != after[key]}

    assert {"p5.48xlarge", "g5.xlarge"} <= spot_types
    assert {(name, region) for name, region, _ in added} == {(ADDED_TYPE, REGION)}
    assert changed == {
        ("p5.48xlarge", REGION, "on_demand_hourly_usd"),
        ("p5.48xlarge", REGION, "reserved_hourly_usd"),
        ("g5.xlarge", REGION, "on_demand_hourly_usd"),
        ("g5.xlarge", REGION, "reserved_hourly_usd"),
    } | {(name, REGION, "spot_hourly_usd") for name in spot_types - {ADDED_TYPE}}
    assert all(after[(name, REGION, "spot_hourly_usd")] == MOTO_SPOT_PRICE for name in spot_types)


def test_refreshed_catalog_loads_with_the_live_prices(refreshed: Refreshed) -> None:
    catalog = PriceCatalog.from_dict(refreshed.catalog)
    p5 = catalog.get("p5.48xlarge", REGION)
    added = catalog.get(ADDED_TYPE, REGION)
    base_p5 = PriceCatalog.from_dict(refreshed.base).get("p5.48xlarge", REGION)

    assert (p5.on_demand_hourly_usd, p5.reserved_hourly_usd) == (49.9, P5_EFFECTIVE_HOURLY)
    assert p5.spot_hourly_usd == MOTO_SPOT_PRICE
    assert p5.spot_interruption_bucket == base_p5.spot_interruption_bucket
    assert p5.spot_interruption_source == base_p5.spot_interruption_source
    assert added.on_demand_hourly_usd == 142.42
    assert added.spot_interruption_bucket is None
    assert catalog.get("g5.xlarge", REGION).reserved_hourly_usd == {}


def test_entries_aws_did_not_answer_keep_base_values_flagged(refreshed: Refreshed) -> None:
    entries = {entry["name"]: entry["regions"] for entry in refreshed.catalog["instance_types"]}
    base = {entry["name"]: entry["regions"] for entry in refreshed.base["instance_types"]}

    assert entries["p5.48xlarge"][REGION]["refreshed"] is True
    assert entries["g4dn.xlarge"][REGION]["refreshed"] is False
    assert (
        entries["g4dn.xlarge"][REGION]["on_demand_hourly_usd"]
        == base["g4dn.xlarge"][REGION]["on_demand_hourly_usd"]
    )
    other_regions = [
        prices for regions in entries.values() for region, prices in regions.items() if region != REGION
    ]
    assert other_regions
    assert not any(prices["refreshed"] or prices["spot_refreshed"] for prices in other_regions)


def test_source_records_the_refresh(refreshed: Refreshed) -> None:
    source = refreshed.catalog["source"]
    record = source["aws_refresh"]
    type_count = len(refreshed.base["instance_types"])

    assert source["ec2_pricing"] == refreshed.base["source"]["ec2_pricing"]
    assert record["refreshed_at"] == "2026-03-01T12:00:00+00:00" == refreshed.catalog["built_at"]
    assert record["regions"] == [REGION]
    assert record["api_calls"] == {PRICE_LIST_CALL: type_count, SPOT_HISTORY_CALL: 1}
    assert record["spot"]["window_start"] == "2026-01-30T12:00:00+00:00"
    assert "time-weighted" in record["spot"]["average"]
    assert "Spot Advisor" in record["interruption"]
    assert record["base_built_at"] == refreshed.base["built_at"]
    assert record["counts"]["prices_refreshed"] == len(PRICED)


def test_refresh_refuses_a_naive_now_and_a_region_without_client(moto_ec2: "EC2Client") -> None:
    base: JsonDict = {"source": {}, "instance_types": []}
    unused_pricing: Any = None

    with pytest.raises(ValueError, match="timezone-aware"):
        refresh_catalog(
            base,
            regions=[REGION],
            pricing_client=unused_pricing,
            ec2_clients_by_region={},
            now=datetime(2026, 1, 1),
        )
    with pytest.raises(ValueError, match="eu-west-1"):
        refresh_catalog(
            base,
            regions=[REGION, "eu-west-1"],
            pricing_client=unused_pricing,
            ec2_clients_by_region={REGION: moto_ec2},
            now=NOW,
        )


# --- Live entry points: wiring only (they would reach the real AWS) -----------------------------------


def test_refresh_from_aws_reads_the_base_and_builds_regional_clients(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    captured: JsonDict = {}

    def fake_refresh(base: JsonDict, **kwargs: Any) -> JsonDict:
        captured.update(kwargs, base=base)
        return base

    monkeypatch.setattr(refresh_module, "refresh_catalog", fake_refresh)
    session = aws_session(REGION, SIMULATOR_CREDENTIALS)
    base_path = tmp_path / "base.json"
    base_path.write_text(json.dumps({"source": {}, "instance_types": []}))

    refresh_from_aws(base_path, ["eu-west-1", "ap-northeast-1"], session)

    assert captured["base"] == {"source": {}, "instance_types": []}
    assert captured["pricing_client"].meta.region_name == "us-east-1"
    assert {
        region: client.meta.region_name for region, client in captured["ec2_clients_by_region"].items()
    } == {
        "eu-west-1": "eu-west-1",
        "ap-northeast-1": "ap-northeast-1",
    }
    refresh_from_aws(None, [REGION], session)
    assert captured["base"] == json.loads(BUNDLED_CATALOG_PATH.read_text())


def test_main_writes_the_refreshed_catalog(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    calls: list[tuple[Path | None, Sequence[str]]] = []
    counts = {"prices_refreshed": 1, "spot_refreshed": 0, "region_entries": 1}
    catalog = {"source": {"aws_refresh": {"counts": counts, "api_calls": {}}}, "instance_types": []}

    def fake_refresh_from_aws(base: Path | None, regions: Sequence[str], session: object) -> JsonDict:
        calls.append((base, regions))
        return catalog

    monkeypatch.setattr(refresh_module, "refresh_from_aws", fake_refresh_from_aws)
    output = tmp_path / "catalog.json"

    main(["--region", "eu-west-1", "--region", "us-west-2", "--output", str(output)])

    assert calls == [(None, ("eu-west-1", "us-west-2"))]
    assert json.loads(output.read_text()) == catalog
    assert str(output) in capsys.readouterr().out
