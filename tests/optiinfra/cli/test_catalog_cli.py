"""`optiinfra catalog list`: the bundled catalog's types in a region, cheapest first, as a table or JSON."""

import json

from typer.testing import CliRunner

from optiinfra.catalog.loader import PriceCatalog
from optiinfra.cli.catalog import gpu_matches
from optiinfra.cli.main import app


def test_a_regions_types_cheapest_first_with_a_header() -> None:
    listed = CliRunner().invoke(app, ["catalog", "list", "--region", "us-east-1", "--gpu", "L4"])
    assert listed.exit_code == 0, listed.output
    header, _, *rows = listed.stdout.splitlines()
    assert header.split()[:3] == ["TYPE", "GPUS", "GPU"] and "ON-DEMAND/H" in header
    names = [row.split()[0] for row in rows]
    assert names and all(name.startswith(("g6.", "gr6.")) for name in names)  # L4, not L40S
    prices = [float(row.split("$")[1].split()[0]) for row in rows]
    assert prices == sorted(prices)


def test_json_carries_the_catalogs_own_figures() -> None:
    listed = CliRunner().invoke(app, ["catalog", "list", "--region", "eu-west-1", "--json"])
    found = json.loads(listed.stdout)
    expected = PriceCatalog.load_default().types_in("eu-west-1")
    assert {item["name"] for item in found} == {kind.name for kind in expected}
    assert all(item["region"] == "eu-west-1" and item["on_demand_hourly_usd"] > 0 for item in found)


def test_gpu_names_match_on_whole_words() -> None:
    assert gpu_matches("l4", "NVIDIA L4") and not gpu_matches("l4", "NVIDIA L40S")
    assert gpu_matches("T4", "NVIDIA T4 Tensor Core") and gpu_matches("nvidia a100", "NVIDIA A100")
    assert not gpu_matches("", "NVIDIA A100")
