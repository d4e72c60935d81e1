"""The model price table: the bundled list prices, lookups by name or alias, overrides and errors."""

import json
from pathlib import Path

import pytest

from optiinfra.application.model_prices import ModelPriceTable, PriceTableError, UnknownModelError
from optiinfra.settings import Settings


def _table(**changes: object) -> dict[str, object]:
    return {
        "as_of": "2026-01",
        "sources": {"acme": "Acme's contract of 2026-01-05"},
        "models": [
            {
                "name": "big",
                "provider": "acme",
                "input_usd_per_1m": 4.0,
                "output_usd_per_1m": 16.0,
                "max_context_tokens": 32_768,
                "cheaper_model": "small",
                "aliases": ["acme/big-v2"],
            },
            {
                "name": "small",
                "provider": "acme",
                "input_usd_per_1m": 0.5,
                "output_usd_per_1m": 1.0,
                "max_context_tokens": 16_384,
            },
        ],
        **changes,
    }


def test_the_bundled_table_holds_public_list_prices_with_their_source() -> None:
    table = ModelPriceTable.load_default()
    gpt4o, mini = table.get("gpt-4o"), table.get("gpt-4o-mini")
    assert (gpt4o.input_usd_per_1m, gpt4o.output_usd_per_1m, gpt4o.max_context_tokens) == (2.5, 10.0, 128_000)
    assert (mini.input_usd_per_1m, mini.output_usd_per_1m) == (0.15, 0.6)
    assert table.cheaper_of(gpt4o) == mini
    assert "openai.com" in table.source_of(gpt4o) and table.as_of
    assert "together.ai" in table.source_of(table.get("llama-3.1-70b-instruct"))
    assert gpt4o.cost_usd(1_000_000, 100_000) == pytest.approx(2.5 + 1.0)


def test_lookups_by_alias_ignore_case() -> None:
    table = ModelPriceTable.load_default()
    llama = table.get("meta-llama/Llama-3.1-8B-Instruct")
    assert llama.name == "llama-3.1-8b-instruct"
    assert llama.kv_bytes_per_token == 2 * 32 * 8 * 128 * 2
    assert table.get("GPT-4O").name == "gpt-4o" and table.get("gpt-4o").kv_bytes_per_token is None
    assert table.find("nothing") is None


def test_an_unknown_model_lists_the_known_ones() -> None:
    table = ModelPriceTable.load_default()
    with pytest.raises(UnknownModelError, match="no price for model 'claude-x'") as raised:
        table.get("claude-x")
    assert "gpt-4o-mini" in str(raised.value) and "llama-3.1-70b-instruct" in str(raised.value)
    assert raised.value.known == table.names


def test_a_configured_table_replaces_the_bundled_one(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(_table()))
    table = ModelPriceTable.configured(Settings(model_price_table=path))
    assert table.names == ["big", "small"] and table.get("ACME/big-v2").name == "big"
    monkeypatch.setenv("OPTIINFRA_MODEL_PRICE_TABLE", str(path))
    assert ModelPriceTable.configured(Settings()).as_of == "2026-01"
    monkeypatch.delenv("OPTIINFRA_MODEL_PRICE_TABLE")
    assert "gpt-4o" in ModelPriceTable.configured(Settings()).names


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"sources": {"other": "x"}}, "has no entry in sources"),
        ({"models": [{**_table()["models"][0], "cheaper_model": "tiny"}]}, "is not in the table"),  # type: ignore[index]
        ({"models": [_table()["models"][0], {**_table()["models"][1], "aliases": ["Big"]}]}, "names both"),  # type: ignore[index]
        ({"models": [{**_table()["models"][1], "capacity_model": "GPT-9"}]}, "capacity_model"),  # type: ignore[index]
        ({"models": [{**_table()["models"][1], "prompt": "x"}]}, "Extra inputs"),  # type: ignore[index]
    ],
)
def test_an_invalid_table_is_refused(tmp_path: Path, changes: dict[str, object], problem: str) -> None:
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(_table(**changes)))
    with pytest.raises(PriceTableError, match=problem):
        ModelPriceTable.load(path)


def test_an_unreadable_table(tmp_path: Path) -> None:
    with pytest.raises(PriceTableError, match="cannot read"):
        ModelPriceTable.load(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(PriceTableError, match="not JSON"):
        ModelPriceTable.load(tmp_path / "bad.json")
