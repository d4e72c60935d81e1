"""The loaders read the real traces whole (row counts as the MANIFEST states them) and stop with the file
and line on anything malformed instead of dropping traffic."""

import itertools
import math
from pathlib import Path

import pytest

from optiinfra.domain.rates import RateWindow
from optiinfra.sim.traffic import (
    BLOCK_TOKENS,
    Request,
    TraceFormatError,
    aggregate_clients,
    load_azure_trace,
    load_mooncake_trace,
    load_servegen_aggregate,
    load_servegen_clients,
)

FOURTEEN_DAYS_OF_TEN_MINUTES = 14 * 24 * 6


def test_servegen_aggregate_is_fourteen_days_of_ten_minute_windows(
    servegen_windows: list[RateWindow],
) -> None:
    assert len(servegen_windows) == FOURTEEN_DAYS_OF_TEN_MINUTES
    assert {window.duration_s for window in servegen_windows} == {600.0}
    assert servegen_windows[0].start_s == 0
    assert servegen_windows[-1].end_s == 14 * 86_400
    rates = [window.rate_rps for window in servegen_windows]
    assert round(min(rates)) == 48
    assert round(max(rates)) == 583


def test_servegen_clients_sum_to_the_aggregate(
    shared_data_dir: Path, servegen_windows: list[RateWindow]
) -> None:
    clients = load_servegen_clients(shared_data_dir / "servegen" / "m-large")
    assert len(clients) == 162
    assert all(len(windows) == FOURTEEN_DAYS_OF_TEN_MINUTES for windows in clients.values())
    summed = aggregate_clients(clients)
    assert [window.start_s for window in summed] == [window.start_s for window in servegen_windows]
    assert max(abs(a.rate_rps - b.rate_rps) for a, b in zip(summed, servegen_windows, strict=True)) < 1e-3
    first_busy = next(window for window in clients[0] if window.rate_rps > 0)
    assert first_busy.arrival_dist in {"Gamma", "Weibull"}
    assert all(window.arrival_dist is None for window in clients[0] if window.rate_rps == 0)


def test_azure_trace_has_every_request_relative_to_the_first(azure_requests: list[Request]) -> None:
    assert len(azure_requests) == 8_819
    assert azure_requests[0].arrival_s == 0
    assert all(a.arrival_s <= b.arrival_s for a, b in itertools.pairwise(azure_requests))
    assert azure_requests[-1].arrival_s == pytest.approx(3_435.948, abs=1e-3)
    assert azure_requests[0] == Request(arrival_s=0.0, prompt_tokens=4_808, output_tokens=10)


def test_mooncake_trace_has_one_hash_per_512_token_block(mooncake_requests: list[Request]) -> None:
    assert len(mooncake_requests) == 12_031
    assert mooncake_requests[-1].arrival_s == pytest.approx(3_536.999)
    assert all(
        len(request.block_hashes) == math.ceil(request.prompt_tokens / BLOCK_TOKENS)
        for request in mooncake_requests
    )
    assert mooncake_requests[0].block_hashes == tuple(range(14))


AGGREGATE_HEADER = "timestamp_s,total_rate_rps,active_clients\n"
AZURE_HEADER = "TIMESTAMP,ContextTokens,GeneratedTokens\n"
AZURE_ROW = "2023-11-16 18:17:03.9799600,4808,10\n"
MOONCAKE_ROW = '{"timestamp": 0, "input_length": 600, "output_length": 5, "hash_ids": [1, 2]}\n'


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("time,rate,clients\n0,1,1\n", 1, "header"),
        (AGGREGATE_HEADER + "0,1.5,3\n600,abc,3\n", 3, "total_rate_rps is not a number"),
        (AGGREGATE_HEADER + "0,1.5,3\n600,-2,3\n", 3, "negative"),
        (AGGREGATE_HEADER + "0,1.5,3\n600,2\n", 3, "expected 3 fields"),
        (AGGREGATE_HEADER + "0,1.5,3\n600,2,3\n1500,2,3\n", 4, "not 600 s"),
        (AGGREGATE_HEADER + "0,1.5,3\n600,2,3.5\n", 3, "active_clients is not an integer"),
        (AGGREGATE_HEADER + "0,1.5,3\n", 2, "at least two windows"),
    ],
)
def test_servegen_aggregate_rejects_malformed_rows(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = tmp_path / "aggregate.csv"
    path.write_text(text)
    with pytest.raises(TraceFormatError, match=reason) as raised:
        load_servegen_aggregate(path)
    assert (raised.value.path, raised.value.line) == (path, line)


def test_servegen_clients_reject_a_malformed_row(tmp_path: Path) -> None:
    (tmp_path / "chunk-3-trace.csv").write_text("0,0,0,,0,0\r\n600,0.5,1.2,Gam ma,1,2\r\n")
    with pytest.raises(TraceFormatError, match="arrival_dist") as raised:
        load_servegen_clients(tmp_path)
    assert raised.value.line == 2


def test_servegen_clients_need_chunk_files(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        load_servegen_clients(tmp_path)


@pytest.mark.parametrize(
    ("text", "line", "reason"),
    [
        ("", 1, "empty"),
        (AZURE_HEADER, 2, "no requests"),
        (AZURE_HEADER + AZURE_ROW + "yesterday,10,10\n", 3, "TIMESTAMP is not a date-time"),
        (AZURE_HEADER + AZURE_ROW + AZURE_ROW.replace("4808", "-1"), 3, "ContextTokens is negative"),
        (AZURE_HEADER + AZURE_ROW + AZURE_ROW.replace(",10", ",ten"), 3, "GeneratedTokens is not an integer"),
        (AZURE_HEADER + AZURE_ROW + "2023-11-16 18:17:03.9799600,4808\n", 3, "expected 3 fields"),
        (AZURE_HEADER + AZURE_ROW + AZURE_ROW.replace("18:17", "18:16"), 3, "earlier than the previous"),
    ],
)
def test_azure_loader_rejects_malformed_rows(tmp_path: Path, text: str, line: int, reason: str) -> None:
    path = tmp_path / "azure.csv"
    path.write_text(text)
    with pytest.raises(TraceFormatError, match=reason) as raised:
        load_azure_trace(path)
    assert raised.value.line == line
    assert str(raised.value).startswith(f"{path}:{line}: ")


@pytest.mark.parametrize(
    ("bad_line", "reason"),
    [
        ("{not json}", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"timestamp": 5, "input_length": 600, "output_length": 5}', "missing hash_ids"),
        ('{"timestamp": -1, "input_length": 600, "output_length": 5, "hash_ids": []}', "timestamp"),
        ('{"timestamp": 5, "input_length": 6.5, "output_length": 5, "hash_ids": []}', "input_length"),
        ('{"timestamp": 5, "input_length": 600, "output_length": true, "hash_ids": []}', "output_length"),
        ('{"timestamp": 5, "input_length": 600, "output_length": 5, "hash_ids": [1, "2"]}', "hash_ids"),
        ('{"timestamp": 0, "input_length": 600, "output_length": 5, "hash_ids": [1]}', None),
    ],
)
def test_mooncake_loader_rejects_malformed_lines(tmp_path: Path, bad_line: str, reason: str | None) -> None:
    path = tmp_path / "trace.jsonl"
    later_row = MOONCAKE_ROW.replace('"timestamp": 0', '"timestamp": 3000')
    path.write_text(later_row + "\n" + bad_line + "\n")
    with pytest.raises(TraceFormatError, match=reason or "earlier than the previous") as raised:
        load_mooncake_trace(path)
    assert raised.value.line == 3


def test_mooncake_loader_skips_blank_lines_and_converts_milliseconds(tmp_path: Path) -> None:
    path = tmp_path / "trace.jsonl"
    path.write_text(MOONCAKE_ROW + "\n" + MOONCAKE_ROW.replace('"timestamp": 0', '"timestamp": 1500'))
    assert load_mooncake_trace(path) == [
        Request(arrival_s=0.0, prompt_tokens=600, output_tokens=5, block_hashes=(1, 2)),
        Request(arrival_s=1.5, prompt_tokens=600, output_tokens=5, block_hashes=(1, 2)),
    ]
