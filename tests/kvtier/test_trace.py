import json
from pathlib import Path

import pytest

from kvtier.trace import BLOCK_TOKENS, TraceFormatError, TraceRequest, load_mooncake

GOOD = {"timestamp": 0, "input_length": 1000, "output_length": 20, "hash_ids": [0, 1]}


def write(path: Path, *lines: str) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_trace_loads_in_order_with_blank_lines_ignored(tmp_path: Path) -> None:
    second = {**GOOD, "timestamp": 27.5, "hash_ids": [0, 2, 3]}
    trace = write(tmp_path / "t.jsonl", json.dumps(GOOD), "", json.dumps(second))
    assert load_mooncake(trace) == [
        TraceRequest(0.0, 1000, 20, (0, 1)),
        TraceRequest(27.5, 1000, 20, (0, 2, 3)),
    ]
    assert load_mooncake(trace, limit=1) == [TraceRequest(0.0, 1000, 20, (0, 1))]


@pytest.mark.parametrize(
    ("bad_line", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        (json.dumps({"timestamp": 1, "input_length": 5, "hash_ids": []}), "missing field.*output_length"),
        (json.dumps({**GOOD, "timestamp": -3}), "timestamp must be non-negative"),
        (json.dumps({**GOOD, "timestamp": True}), "timestamp must be non-negative"),
        (json.dumps({**GOOD, "input_length": 1.5}), "input_length must be a non-negative integer"),
        (json.dumps({**GOOD, "output_length": -1}), "output_length must be a non-negative integer"),
        (json.dumps({**GOOD, "hash_ids": "0,1"}), "hash_ids must be a list"),
        (json.dumps({**GOOD, "hash_ids": [0, "x"]}), "hash_ids must be a list"),
        (json.dumps({**GOOD, "hash_ids": [0, 1, 0]}), "repeats a block"),
    ],
)
def test_a_malformed_line_is_an_error_naming_its_line(tmp_path: Path, bad_line: str, message: str) -> None:
    trace = write(tmp_path / "t.jsonl", json.dumps(GOOD), json.dumps(GOOD), bad_line)
    with pytest.raises(TraceFormatError, match=message) as raised:
        load_mooncake(trace)
    assert raised.value.line == 3
    assert str(raised.value).startswith(f"{trace}:3: ")


def test_timestamps_must_not_go_backwards(tmp_path: Path) -> None:
    trace = write(tmp_path / "t.jsonl", json.dumps({**GOOD, "timestamp": 10}), json.dumps(GOOD))
    with pytest.raises(TraceFormatError, match="earlier") as raised:
        load_mooncake(trace)
    assert raised.value.line == 2


def test_the_real_conversation_trace(mooncake_requests: list[TraceRequest]) -> None:
    assert len(mooncake_requests) == 12_031
    assert all(
        len(request.hash_ids) == -(-request.input_length // BLOCK_TOKENS) for request in mooncake_requests
    )
