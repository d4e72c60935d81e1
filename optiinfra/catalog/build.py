"""Builds the bundled GPU price catalog from the real public snapshots in the shared data folder.

The agents need prices offline and deterministically, so we distil two public files (the vantage /
ec2instances.info EC2 snapshot and the AWS Spot Advisor feed) into one small JSON file shipped with
the package. Every figure is copied from a source; anything a source lacks stays None.

Regenerate with: python -m optiinfra.catalog.build --data-dir ../shared/data
"""

import argparse
import hashlib
import json
import math
import re
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from optiinfra.settings import get_settings

DEFAULT_REGIONS: tuple[str, ...] = (
    "us-east-1",
    "us-east-2",
    "us-west-2",
    "eu-west-1",
    "eu-central-1",
    "ap-northeast-1",
)

VANTAGE_FILE = "ec2_pricing/vantage_ec2_gpu_instances_2025-11-30.json"
SPOT_ADVISOR_FILE = "aws_spot_advisor/spot-advisor-data.json"
VANTAGE_SNAPSHOT_DATE = "2025-11-30"
SPOT_ADVISOR_SNAPSHOT_DATE = "2024-02"  # the feed carries no date; MANIFEST.md gives it

SPOT_ADVISOR_LABEL = f"aws_spot_advisor {SPOT_ADVISOR_SNAPSHOT_DATE}"
VANTAGE_LABEL = f"vantage {VANTAGE_SNAPSHOT_DATE}"

BUNDLED_CATALOG_PATH = Path(__file__).parent / "data" / "gpu_instances.json"

# Both sources name interruption frequency with the Spot Advisor's own five bands.
INTERRUPTION_LABEL_TO_BUCKET: dict[str, int] = {"<5%": 0, "5-10%": 1, "10-15%": 2, "15-20%": 3, ">20%": 4}

_RESERVED_KEY = re.compile(
    r"^yrTerm(?P<years>\d)(?P<kind>Standard|Convertible)\.(?P<upfront>all|partial|no)Upfront$"
)

JsonDict = dict[str, Any]


def build_catalog(data_dir: Path, regions: Sequence[str] = DEFAULT_REGIONS) -> JsonDict:
    """Distil the two source files into the catalog dict (JSON-able) for the given regions."""
    vantage_path = data_dir / VANTAGE_FILE
    advisor_path = data_dir / SPOT_ADVISOR_FILE
    vantage_types: list[JsonDict] = _read_json(vantage_path)
    spot_advisor: JsonDict = _read_json(advisor_path)["spot_advisor"]

    instance_types: list[JsonDict] = []
    skipped: dict[str, str] = {}
    for raw in sorted(vantage_types, key=lambda t: str(t["instance_type"])):
        entry, reason = _instance_entry(raw, spot_advisor, regions)
        if entry is not None:
            instance_types.append(entry)
        else:
            skipped[raw["instance_type"]] = reason
    return {
        "source": _provenance(vantage_path, advisor_path, regions),
        "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "instance_types": instance_types,
        "skipped_instance_types": skipped,
    }


def write_catalog(catalog: Mapping[str, Any], path: Path) -> None:
    """Write compactly (no indentation) so the bundled file stays small in the wheel."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(catalog, separators=(",", ":"), sort_keys=False) + "\n", encoding="utf-8")


def _read_json(path: Path) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"catalog source {path} is missing; pass --data-dir the shared data folder")
    with path.open(encoding="utf-8") as f:
        return json.load(f)


def _provenance(vantage_path: Path, advisor_path: Path, regions: Sequence[str]) -> JsonDict:
    """Name each source with its date, licence and digest so any figure can be traced back."""
    return {
        "regions": list(regions),
        "operating_system": "Linux",
        "ec2_pricing": {
            "file": VANTAGE_FILE,
            "snapshot_date": VANTAGE_SNAPSHOT_DATE,
            "origin": "instances.vantage.sh (ec2instances.info) via tsaol/aws-gpu",
            "licence": "MIT (ec2instances.info)",
            "sha256": _sha256(vantage_path),
            "gives": "specs, on-demand, reserved (effective hourly), spot average; fallback interruption",
        },
        "spot_advisor": {
            "file": SPOT_ADVISOR_FILE,
            "snapshot_date": SPOT_ADVISOR_SNAPSHOT_DATE,
            "origin": "AWS Spot Advisor public feed via ETOgaosion/bamboo",
            "licence": "feed has no explicit licence",
            "sha256": _sha256(advisor_path),
            "gives": "interruption bucket (r) and savings percent (s), preferred where present",
        },
    }


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _instance_entry(
    raw: JsonDict, spot_advisor: JsonDict, regions: Sequence[str]
) -> tuple[JsonDict | None, str]:
    """One catalog entry, or None with the reason it cannot be used for whole-GPU fleet planning."""
    gpu_count = _whole_count(raw.get("GPU"))
    if gpu_count is None:
        return None, f"no whole accelerator count (GPU={raw.get('GPU')!r})"
    priced_regions = {
        region: entry for region in regions if (entry := _region_entry(raw, region, spot_advisor)) is not None
    }
    if not priced_regions:
        return None, "no Linux on-demand price in the catalog regions"
    return {
        "name": raw["instance_type"],
        "vcpu": int(raw["vCPU"]),
        "memory_gib": float(raw["memory"]),
        "gpu_model": raw["GPU_model"],
        "gpu_count": gpu_count,
        "gpu_memory_gib": float(raw["GPU_memory"]),
        "regions": priced_regions,
    }, ""


def _whole_count(raw: object) -> int | None:
    """Fractional GPUs (g6f, gr6f slices) do not fit the fleet model of whole accelerators."""
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        return None
    if raw < 1 or not float(raw).is_integer():
        return None
    return int(raw)


def _region_entry(raw: JsonDict, region: str, spot_advisor: JsonDict) -> JsonDict | None:
    """Prices in one region; None when there is no Linux on-demand price to anchor them."""
    linux = (raw.get("pricing") or {}).get(region, {}).get("linux") or {}
    on_demand = _price(linux.get("ondemand"))
    if on_demand is None:
        return None
    advisor = spot_advisor.get(region, {}).get("Linux", {}).get(raw["instance_type"])
    return {
        "on_demand_hourly_usd": on_demand,
        "spot_hourly_usd": _price(linux.get("spot_avg")),
        **_interruption(advisor, linux),
        "reserved_hourly_usd": _reserved_prices(linux.get("reserved") or {}),
    }


def _interruption(advisor: JsonDict | None, linux: JsonDict) -> JsonDict:
    """Spot Advisor's r/s first (the brief's source); else the newer vantage copy of the same bands.

    Bucket and savings always come from the same record, and the record is named, because the two
    snapshots are 21 months apart and often disagree.
    """
    if advisor is not None and _bucket(advisor.get("r")) is not None:
        return {
            "spot_interruption_bucket": _bucket(advisor.get("r")),
            "spot_savings_percent": _percent(advisor.get("s")),
            "spot_interruption_source": SPOT_ADVISOR_LABEL,
        }
    label = linux.get("pct_interrupt")
    bucket = INTERRUPTION_LABEL_TO_BUCKET.get(label) if isinstance(label, str) else None
    if bucket is not None:
        return {
            "spot_interruption_bucket": bucket,
            "spot_savings_percent": _percent(linux.get("pct_savings_od")),
            "spot_interruption_source": VANTAGE_LABEL,
        }
    return {"spot_interruption_bucket": None, "spot_savings_percent": None, "spot_interruption_source": None}


def _bucket(raw: object) -> int | None:
    return raw if isinstance(raw, int) and not isinstance(raw, bool) and 0 <= raw <= 4 else None


def _percent(raw: object) -> float | None:
    value = finite_number(raw)
    return value if value is not None and 0 <= value <= 100 else None


def _price(raw: object) -> float | None:
    """A positive USD figure; sources write prices as strings and leave gaps as missing or empty."""
    value = finite_number(raw)
    return value if value is not None and value > 0 else None


def finite_number(raw: object) -> float | None:
    """A finite number from a JSON/CSV field that may be text, empty, or missing."""
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _reserved_prices(raw: Mapping[str, object]) -> dict[str, float]:
    """Rename vantage terms ('yrTerm1Standard.noUpfront') to '1yr_standard_no_upfront'."""
    prices: dict[str, float] = {}
    for source_key, source_value in sorted(raw.items()):
        key = _reserved_term_key(source_key)
        value = _price(source_value)
        if key is not None and value is not None:
            prices[key] = value
    return prices


def _reserved_term_key(source_key: str) -> str | None:
    match = _RESERVED_KEY.match(source_key)
    if match is None:
        return None
    return f"{match['years']}yr_{match['kind'].lower()}_{match['upfront']}_upfront"


def main(argv: Sequence[str] | None = None) -> None:
    """Regenerate the bundled catalog file from the shared data folder."""
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data-dir", type=Path, default=None, help="shared data folder (OPTIINFRA_DATA_DIR)")
    parser.add_argument("--output", type=Path, default=BUNDLED_CATALOG_PATH, help="where to write the JSON")
    parser.add_argument("--region", action="append", dest="regions", help="repeat; default: the big six")
    args = parser.parse_args(argv)
    data_dir: Path = args.data_dir or get_settings().data_dir
    catalog = build_catalog(data_dir, tuple(args.regions or DEFAULT_REGIONS))
    write_catalog(catalog, args.output)
    size = args.output.stat().st_size
    print(f"wrote {len(catalog['instance_types'])} instance types to {args.output} ({size} bytes)")


if __name__ == "__main__":
    main()
