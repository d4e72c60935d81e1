"""The Reserved Instance market of the twin's EC2: offerings for the catalog's GPU types at their real
reserved prices, purchases, and the purchased reservations, served by the moto server under the EC2 API's
own actions (DescribeReservedInstancesOfferings, PurchaseReservedInstancesOffering,
DescribeReservedInstances).

Moto lists a few made-up offerings for small general-purpose types and does not implement purchases;
these three actions replace its handlers, in this process only. A reservation is an ordinary taggable EC2
resource (CreateTags and tag filters work on it), which is how a purchase is found again after a retry.

Offerings are regional (Scope "Region"), for Linux/UNIX on default tenancy, with the upfront fee and
hourly charge split as agents.cost.commitments describes."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from moto.core.responses import ActionResult, EmptyResult
from moto.ec2.exceptions import EC2ClientError
from moto.ec2.responses.reserved_instances import ReservedInstances as ReservedInstancesResponse
from moto.ec2.responses.tags import TagResponse

from agents.cost.commitments import ReservedOffer, reserved_offers
from optiinfra.catalog.loader import PriceCatalog

PRODUCT_DESCRIPTION = "Linux/UNIX"
_OFFERING_NAMESPACE = uuid.UUID("5f0b8f4e-4c1e-4a59-9d0e-2f6c5b7a9e31")
_STATE_ATTRIBUTE = "_optiinfra_reservations"

_install_lock = threading.Lock()
_installed = False


def offering_id(offer: ReservedOffer) -> str:
    """Stable across restarts, so a quote taken before a restart still names the same offering."""
    return str(uuid.uuid5(_OFFERING_NAMESPACE, f"{offer.region}/{offer.instance_type}/{offer.key}"))


def install_reserved_market(catalog: PriceCatalog | None = None) -> None:
    """Serve the reserved-instance actions from the catalog; idempotent, for every moto server of the
    process."""
    global _installed
    with _install_lock:
        if _installed:
            return
        market = _Market(catalog or PriceCatalog.load_default())

        # Plain functions, so that they bind to the response object moto dispatches on.
        def describe_offerings(response: ReservedInstancesResponse) -> ActionResult:
            return market.describe_offerings(response)

        def purchase(response: ReservedInstancesResponse) -> ActionResult:
            return market.purchase(response)

        def describe_reservations(response: ReservedInstancesResponse) -> ActionResult:
            return market.describe_reservations(response)

        handlers = {
            "describe_reserved_instances_offerings": describe_offerings,
            "purchase_reserved_instances_offering": purchase,
            "describe_reserved_instances": describe_reservations,
        }
        for action, reserved_handler in handlers.items():
            setattr(ReservedInstancesResponse, action, reserved_handler)
        moto_create_tags = TagResponse.create_tags

        def create_tags(response: TagResponse) -> ActionResult:
            # Moto only accepts ids with a known resource prefix; reservation ids are UUIDs.
            return market.tag_reservations(response) or moto_create_tags(response)

        tag_action = "create_tags"
        setattr(TagResponse, tag_action, create_tags)
        _installed = True


def _offering_record(offer: ReservedOffer) -> dict[str, Any]:
    return {
        "ReservedInstancesOfferingId": offering_id(offer),
        "InstanceType": offer.instance_type,
        "Duration": int(offer.term_hours * 3600),
        "FixedPrice": round(offer.upfront_usd, 2),
        "UsagePrice": 0.0,
        "RecurringCharges": [{"Amount": round(offer.recurring_hourly_usd, 6), "Frequency": "Hourly"}],
        "CurrencyCode": "USD",
        "ProductDescription": PRODUCT_DESCRIPTION,
        "InstanceTenancy": "default",
        "Marketplace": False,
        "OfferingClass": offer.offering_class.value,
        "OfferingType": offer.payment.aws_offering_type,
        "Scope": "Region",
        "PricingDetails": [],
    }


def _matches(record: dict[str, Any], filters: Mapping[str, Any], tags: dict[str, str]) -> bool:
    fields = {
        "instance-type": "InstanceType",
        "offering-type": "OfferingType",
        "offering-class": "OfferingClass",
        "product-description": "ProductDescription",
        "state": "State",
        "duration": "Duration",
        "reserved-instances-id": "ReservedInstancesId",
    }
    for name, values in filters.items():
        if name.startswith("tag:"):
            if tags.get(name.removeprefix("tag:")) not in values:
                return False
            continue
        field = fields.get(name)
        if field is None:
            raise EC2ClientError("InvalidParameterValue", f"The filter '{name}' is invalid")
        if str(record.get(field)) not in values:
            return False
    return True


class _Market:
    def __init__(self, catalog: PriceCatalog) -> None:
        self._catalog = catalog

    def _offerings(self, region: str) -> dict[str, tuple[ReservedOffer, dict[str, Any]]]:
        found: dict[str, tuple[ReservedOffer, dict[str, Any]]] = {}
        for instance_type in self._catalog.types_in(region):
            for offer in reserved_offers(instance_type):
                found[offering_id(offer)] = (offer, _offering_record(offer))
        return found

    @staticmethod
    def _reservations(response: ReservedInstancesResponse) -> dict[str, dict[str, Any]]:
        backend = response.ec2_backend
        if not hasattr(backend, _STATE_ATTRIBUTE):
            setattr(backend, _STATE_ATTRIBUTE, {})
        reservations: dict[str, dict[str, Any]] = getattr(backend, _STATE_ATTRIBUTE)
        return reservations

    def describe_offerings(self, response: ReservedInstancesResponse) -> ActionResult:
        response.error_on_dryrun()
        filters = response._filters_from_querystring()
        wanted = {
            "InstanceType": response._get_param("InstanceType"),
            "OfferingClass": response._get_param("OfferingClass"),
            "OfferingType": response._get_param("OfferingType"),
            "ProductDescription": response._get_param("ProductDescription"),
        }
        ids = set(response._get_param("ReservedInstancesOfferingIds", []) or [])
        records = [
            record
            for _, record in self._offerings(response.region).values()
            if all(value is None or record[key] == value for key, value in wanted.items())
            and (not ids or record["ReservedInstancesOfferingId"] in ids)
            and _matches(record, filters, {})
        ]
        return ActionResult({"ReservedInstancesOfferings": records})

    def purchase(self, response: ReservedInstancesResponse) -> ActionResult:
        response.error_on_dryrun()
        offering = self._offerings(response.region).get(response._get_param("ReservedInstancesOfferingId"))
        if offering is None:
            raise EC2ClientError("InvalidReservedInstancesOfferingId", "The offering ID is not valid")
        offer, record = offering
        count = int(response._get_param("InstanceCount", 1))
        if count < 1:
            raise EC2ClientError("InvalidParameterValue", "InstanceCount must be at least 1")
        limit = response._get_param("LimitPrice") or {}
        upfront = record["FixedPrice"] * count
        if "Amount" in limit and upfront > float(limit["Amount"]) + 1e-6:
            raise EC2ClientError(
                "InvalidParameterValue",
                f"The upfront price {upfront:.2f} USD exceeds the limit price "
                f"{float(limit['Amount']):.2f} USD",
            )
        start = datetime.now(UTC)
        reservation_id = str(uuid.uuid4())
        self._reservations(response)[reservation_id] = {
            **{k: v for k, v in record.items() if k not in {"ReservedInstancesOfferingId", "Marketplace"}},
            "ReservedInstancesId": reservation_id,
            "InstanceCount": count,
            "Start": start,
            "End": start + timedelta(hours=offer.term_hours),
            "State": "active",
        }
        return ActionResult({"ReservedInstancesId": reservation_id})

    def tag_reservations(self, response: TagResponse) -> ActionResult | None:
        """Tag reservations; None when the request names anything else (moto handles those)."""
        resource_ids = response._get_param("Resources", [])
        known = self._reservations(response)  # type: ignore[arg-type]
        if not resource_ids or not all(resource_id in known for resource_id in resource_ids):
            return None
        tags = {tag["Key"]: tag["Value"] for tag in response._get_param("Tags", [])}
        response.ec2_backend.create_tags(resource_ids, tags)
        return EmptyResult()

    def describe_reservations(self, response: ReservedInstancesResponse) -> ActionResult:
        filters = response._filters_from_querystring()
        ids = set(response._get_param("ReservedInstancesIds", []) or [])
        tags = response.ec2_backend.tags
        found: list[dict[str, Any]] = []
        for reservation_id, record in self._reservations(response).items():
            own_tags = dict(tags.get(reservation_id, {}))
            if ids and reservation_id not in ids:
                continue
            if not _matches(record, filters, own_tags):
                continue
            found.append({**record, "Tags": [{"Key": k, "Value": v} for k, v in sorted(own_tags.items())]})
        return ActionResult({"ReservedInstances": found})
