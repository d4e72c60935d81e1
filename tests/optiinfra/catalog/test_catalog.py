"""The bundled price catalog against the raw public files it was built from.

The raw files live outside the repository (OPTIINFRA_DATA_DIR, default ../shared/data). When they
are missing these tests fail on purpose: a catalog nobody can check against its source is not trusted.
"""

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from optiinfra.catalog import PriceCatalog
from optiinfra.catalog.build import (
    BUNDLED_CATALOG_PATH,
    DEFAULT_REGIONS,
    INTERRUPTION_LABEL_TO_BUCKET,
    SPOT_ADVISOR_FILE,
    SPOT_ADVISOR_LABEL,
    VANTAGE_FILE,
    VANTAGE_LABEL,
    build_catalog,
    write_catalog,
)
from optiinfra.domain.fleet import InstanceType

REPO_ROOT = Path(__file__).resolve().parents[3]
MAX_BUNDLED_BYTES = 300_000

JsonDict = dict[str, Any]


@pytest.fixture(scope="module")
def data_dir() -> Path:
    configured = os.environ.get("OPTIINFRA_DATA_DIR")
    path = Path(configured) if configured else REPO_ROOT.parent / "shared" / "data"
    for needed in (VANTAGE_FILE, SPOT_ADVISOR_FILE):
        if not (path / needed).is_file():
            pytest.fail(
                f"price source {path / needed} is missing: set OPTIINFRA_DATA_DIR to the shared data folder "
                "(the catalog tests compare the bundled catalog against the raw public files)"
            )
    return path


@pytest.fixture(scope="module")
def vantage(data_dir: Path) -> dict[str, JsonDict]:
    """Raw vantage instance records by type name."""
    records: list[JsonDict] = json.loads((data_dir / VANTAGE_FILE).read_text())
    return {record["instance_type"]: record for record in records}


@pytest.fixture(scope="module")
def spot_advisor(data_dir: Path) -> JsonDict:
    feed: JsonDict = json.loads((data_dir / SPOT_ADVISOR_FILE).read_text())
    return feed["spot_advisor"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def bundled() -> JsonDict:
    return json.loads(BUNDLED_CATALOG_PATH.read_text())  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def catalog() -> PriceCatalog:
    return PriceCatalog.load_default()


def all_types(catalog: PriceCatalog) -> Iterator[InstanceType]:
    for region in catalog.regions():
        yield from catalog.types_in(region)


def raw_linux(vantage: dict[str, JsonDict], name: str, region: str) -> JsonDict:
    return vantage[name]["pricing"][region]["linux"]  # type: ignore[no-any-return]


def optional_float(raw: object) -> float | None:
    return float(raw) if isinstance(raw, str | int | float) and raw != "" else None


def test_g5_xlarge_us_east_1_on_demand_price_is_the_vantage_figure(
    catalog: PriceCatalog, vantage: dict[str, JsonDict]
) -> None:
    g5 = catalog.get("g5.xlarge", "us-east-1")

    assert g5.on_demand_hourly_usd == float(raw_linux(vantage, "g5.xlarge", "us-east-1")["ondemand"])
    assert g5.on_demand_hourly_usd == pytest.approx(1.006)
    assert (g5.vcpu, g5.memory_gib, g5.gpu_model, g5.gpu_count, g5.gpu_memory_gib) == (
        4,
        16.0,
        "NVIDIA A10G",
        1,
        24.0,
    )


def test_g5_xlarge_us_east_1_spot_figures_come_from_their_sources(
    catalog: PriceCatalog, vantage: dict[str, JsonDict], spot_advisor: JsonDict
) -> None:
    g5 = catalog.get("g5.xlarge", "us-east-1")
    advice = spot_advisor["us-east-1"]["Linux"]["g5.xlarge"]

    assert g5.spot_hourly_usd == float(raw_linux(vantage, "g5.xlarge", "us-east-1")["spot_avg"])
    assert g5.spot_interruption_bucket == advice["r"]
    assert g5.spot_savings_percent == advice["s"]
    assert g5.spot_interruption_source == SPOT_ADVISOR_LABEL


def test_g5_xlarge_us_east_1_reserved_prices_are_the_vantage_effective_hourly_figures(
    catalog: PriceCatalog, vantage: dict[str, JsonDict]
) -> None:
    reserved = raw_linux(vantage, "g5.xlarge", "us-east-1")["reserved"]
    g5 = catalog.get("g5.xlarge", "us-east-1")

    assert g5.reserved_hourly_usd["1yr_standard_no_upfront"] == float(reserved["yrTerm1Standard.noUpfront"])
    assert g5.reserved_hourly_usd["3yr_standard_all_upfront"] == float(reserved["yrTerm3Standard.allUpfront"])
    assert g5.reserved_hourly_usd["3yr_convertible_partial_upfront"] == float(
        reserved["yrTerm3Convertible.partialUpfront"]
    )
    assert len(g5.reserved_hourly_usd) == len(reserved) == 12


def test_every_price_equals_its_vantage_figure_or_is_none_when_vantage_has_none(
    catalog: PriceCatalog, vantage: dict[str, JsonDict]
) -> None:
    for found in all_types(catalog):
        linux = raw_linux(vantage, found.name, found.region)
        assert found.on_demand_hourly_usd == float(linux["ondemand"]), (found.name, found.region)
        assert found.spot_hourly_usd == optional_float(linux.get("spot_avg")), (found.name, found.region)
        assert len(found.reserved_hourly_usd) == len(linux.get("reserved") or {}), (found.name, found.region)


def test_every_interruption_bucket_is_the_spot_advisor_r_or_a_named_vantage_fallback(
    catalog: PriceCatalog, vantage: dict[str, JsonDict], spot_advisor: JsonDict
) -> None:
    for found in all_types(catalog):
        advice = spot_advisor[found.region]["Linux"].get(found.name)
        label = raw_linux(vantage, found.name, found.region).get("pct_interrupt")
        where = (found.name, found.region)
        if advice is not None:
            assert found.spot_interruption_bucket == advice["r"], where
            assert found.spot_savings_percent == advice["s"], where
            assert found.spot_interruption_source == SPOT_ADVISOR_LABEL, where
        elif label is not None:
            assert found.spot_interruption_bucket == INTERRUPTION_LABEL_TO_BUCKET[label], where
            assert found.spot_interruption_source == VANTAGE_LABEL, where
        else:
            assert found.spot_interruption_bucket is None, where
            assert found.spot_savings_percent is None, where


def test_every_type_has_whole_accelerators_and_their_memory(catalog: PriceCatalog) -> None:
    types = list(all_types(catalog))

    assert types
    for found in types:
        assert found.gpu_count >= 1, found.name
        assert found.gpu_memory_gib > 0, found.name
        assert found.on_demand_hourly_usd > 0, found.name


def test_fractional_gpu_slices_are_left_out_with_a_reason(bundled: JsonDict, catalog: PriceCatalog) -> None:
    names = {found.name for found in all_types(catalog)}

    assert "g6f.xlarge" not in names
    assert "GPU=0.125" in bundled["skipped_instance_types"]["g6f.xlarge"]


def test_catalog_covers_the_default_regions_with_the_inference_workhorses(catalog: PriceCatalog) -> None:
    assert catalog.regions() == sorted(DEFAULT_REGIONS)
    us_east_1 = {found.name for found in catalog.types_in("us-east-1")}
    assert {"g4dn.xlarge", "g5.xlarge", "g6.xlarge", "g6e.xlarge", "p4d.24xlarge", "p5.48xlarge"} <= us_east_1


def test_building_from_the_data_dir_reproduces_the_bundled_file(data_dir: Path, bundled: JsonDict) -> None:
    rebuilt = build_catalog(data_dir)

    assert rebuilt["instance_types"] == bundled["instance_types"]
    assert rebuilt["skipped_instance_types"] == bundled["skipped_instance_types"]
    assert rebuilt["source"] == bundled["source"]


def test_bundled_file_stays_compact() -> None:
    assert BUNDLED_CATALOG_PATH.stat().st_size < MAX_BUNDLED_BYTES


def test_write_then_load_round_trips(data_dir: Path, tmp_path: Path) -> None:
    built = build_catalog(data_dir, regions=["eu-west-1"])
    path = tmp_path / "catalog.json"

    write_catalog(built, path)
    reloaded = PriceCatalog.from_dict(json.loads(path.read_text()))

    assert reloaded.regions() == ["eu-west-1"]
    assert reloaded.source["regions"] == ["eu-west-1"]
    assert len(reloaded.types_in("eu-west-1")) == len(built["instance_types"])


def test_unknown_type_or_region_raises_key_error_saying_which(catalog: PriceCatalog) -> None:
    with pytest.raises(KeyError, match=r"'m5\.large' is not in the price catalog"):
        catalog.get("m5.large", "us-east-1")
    with pytest.raises(KeyError, match=r"region 'mars-1' is not in the price catalog"):
        catalog.get("g5.xlarge", "mars-1")
    with pytest.raises(KeyError, match=r"'g5g\.xlarge' has no Linux on-demand price in 'us-east-2'"):
        catalog.get("g5g.xlarge", "us-east-2")
    assert catalog.types_in("mars-1") == []


def test_default_catalog_is_loaded_once_and_lookups_cannot_corrupt_it(catalog: PriceCatalog) -> None:
    first = catalog.get("g5.xlarge", "us-east-1")
    first.on_demand_hourly_usd = 0.0
    first.reserved_hourly_usd.clear()

    again = PriceCatalog.load_default().get("g5.xlarge", "us-east-1")

    assert PriceCatalog.load_default() is catalog
    assert again.on_demand_hourly_usd == pytest.approx(1.006)
    assert again.reserved_hourly_usd


def test_source_names_both_snapshots_and_their_licences(catalog: PriceCatalog) -> None:
    source = catalog.source

    assert source["ec2_pricing"]["snapshot_date"] == "2025-11-30"
    assert source["ec2_pricing"]["licence"].startswith("MIT")
    assert source["spot_advisor"]["snapshot_date"] == "2024-02"
    assert "licence" in source["spot_advisor"]


def test_gaps_and_garbage_in_a_source_become_none_or_a_skip(tmp_path: Path) -> None:
    """Synthetic sources: the builder must never turn a blank or malformed figure into a number."""
    write_sources(
        tmp_path,
        vantage=[
            vantage_record("g9.xlarge", gpus=1, linux={"ondemand": "2.5", "spot_avg": "N/A", "reserved": {}}),
            vantage_record("g9.2xlarge", gpus=1, linux={"ondemand": ""}),
            vantage_record("g9f.xlarge", gpus=0.5, linux={"ondemand": "1.0"}),
        ],
        advisor={"us-east-1": {"Linux": {"g9.xlarge": {"s": 50, "r": 7}}}},
    )

    built = build_catalog(tmp_path, regions=["us-east-1"])

    [entry] = built["instance_types"]
    prices = entry["regions"]["us-east-1"]
    assert entry["name"] == "g9.xlarge"
    assert prices["on_demand_hourly_usd"] == 2.5
    assert prices["spot_hourly_usd"] is None
    assert prices["spot_interruption_bucket"] is None
    assert prices["reserved_hourly_usd"] == {}
    assert set(built["skipped_instance_types"]) == {"g9.2xlarge", "g9f.xlarge"}


def vantage_record(name: str, gpus: float, linux: JsonDict) -> JsonDict:
    return {
        "instance_type": name,
        "vCPU": 4,
        "memory": 16,
        "GPU": gpus,
        "GPU_model": "Test GPU",
        "GPU_memory": 24,
        "pricing": {"us-east-1": {"linux": linux}},
    }


def write_sources(data_dir: Path, vantage: list[JsonDict], advisor: JsonDict) -> None:
    for relative, content in ((VANTAGE_FILE, vantage), (SPOT_ADVISOR_FILE, {"spot_advisor": advisor})):
        path = data_dir / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(content))
