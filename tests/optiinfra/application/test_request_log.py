"""Reading tier-1 request logs: the Azure trace's format and the generic one; text is refused, malformed
lines are reported with their file and line."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

from optiinfra.application.request_log import (
    LogFormat,
    RequestLogError,
    detect_format,
    read_request_log,
    request_type_from_path,
)
from optiinfra.privacy.records import RequestError

AZURE = """TIMESTAMP,ContextTokens,GeneratedTokens
2023-11-16 18:17:03.9799600,4808,10
2023-11-16 18:17:04.0319600,3180,8
"""


ONE_LINE = '{"at": "2026-01-01T10:00:00Z", "model": "m", "context_tokens": 1, "generated_tokens": 1}'


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_azure_format(tmp_path: Path) -> None:
    path = _write(tmp_path, "AzureLLMInferenceTrace_conv.csv", AZURE + "\n")
    assert detect_format(path) is LogFormat.AZURE
    first, second = read_request_log(path, model="gpt-4o")
    assert first.at == datetime(2023, 11, 16, 18, 17, 3, 979960, tzinfo=UTC)
    assert (first.model, first.request_type, first.context_tokens, first.generated_tokens) == (
        "gpt-4o",
        "conv",
        4808,
        10,
    )
    assert second.at.microsecond == 31960
    (named,) = list(read_request_log(path, model="gpt-4", request_type="chat"))[:1]
    assert named.request_type == "chat" and named.model == "gpt-4"


def test_request_type_from_the_file_name() -> None:
    assert request_type_from_path(Path("AzureLLMInferenceTrace_code.csv")) == "code"
    assert request_type_from_path(Path("requests.csv")) == "default"
    assert request_type_from_path(Path("log_with space.csv")) == "default"


def test_the_azure_format_needs_a_model(tmp_path: Path) -> None:
    path = _write(tmp_path, "trace_code.csv", AZURE)
    with pytest.raises(RequestLogError, match="names no model"):
        read_request_log(path)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("2023-11-16 18:17:05.0000000,12x,5", "integers"),
        ("2023-11-16 18:17:05.0000000,12", "expected 3 fields"),
        ("yesterday,12,5", "TIMESTAMP is not a timestamp"),
        ("2023-11-16 18:17:05.0000000,-4,5", "context_tokens"),
    ],
)
def test_a_malformed_azure_line_names_file_and_line(tmp_path: Path, line: str, problem: str) -> None:
    path = _write(tmp_path, "trace_code.csv", AZURE + line + "\n")
    with pytest.raises(RequestLogError, match=problem) as raised:
        list(read_request_log(path, model="gpt-4o"))
    assert f"{path}:4:" in str(raised.value)


def test_a_prompt_column_is_refused_in_every_format(tmp_path: Path) -> None:
    azure = _write(tmp_path, "trace_code.csv", "TIMESTAMP,ContextTokens,GeneratedTokens,Prompt\n")
    tier1 = _write(tmp_path, "log.csv", "at,model,context_tokens,generated_tokens,prompt\n")
    jsonl = _write(
        tmp_path,
        "log.jsonl",
        '{"at": "2026-01-01T00:00:00Z", "model": "m", "context_tokens": 1, "generated_tokens": 1}\n'
        '{"at": "2026-01-01T00:00:01Z", "model": "m", "context_tokens": 1, "generated_tokens": 1, '
        '"prompt": "hello"}\n',
    )
    for path, line in ((azure, 1), (tier1, 1), (jsonl, 2)):
        with pytest.raises(
            RequestLogError, match="tier-1 logs carry token counts, timings and errors, no text"
        ) as raised:
            list(read_request_log(path, model="gpt-4o"))
        assert f"{path}:{line}:" in str(raised.value)
        assert "prompt" in str(raised.value).lower()


def test_the_generic_tier_1_csv(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "log.csv",
        "at,model,request_type,context_tokens,generated_tokens,latency_s,ttft_s,error\n"
        "2026-01-01T10:00:00,gpt-4o,search,1200,40,1.5,0.2,\n"
        "2026-01-01T10:00:02+00:00,gpt-4o,search,900,0,,,timeout\n",
    )
    assert detect_format(path) is LogFormat.TIER1
    first, second = read_request_log(path)
    assert first.at == datetime(2026, 1, 1, 10, tzinfo=UTC)  # no zone: UTC
    assert (first.request_type, first.latency_s, first.ttft_s, first.error) == ("search", 1.5, 0.2, None)
    assert (second.latency_s, second.error) == (None, RequestError.TIMEOUT)


def test_the_generic_tier_1_jsonl_with_defaults(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "log.jsonl",
        '{"at": "2026-01-01T10:00:00Z", "context_tokens": 10, "generated_tokens": 2}\n\n'
        '{"at": 1767261601, "context_tokens": 11, "generated_tokens": 3, "request_type": "sql"}\n',
    )
    first, second = read_request_log(path, model="llama-3.1-8b", request_type="chat")
    assert (first.model, first.request_type) == ("llama-3.1-8b", "chat")
    assert (second.request_type, second.at.tzinfo is not None) == ("sql", True)
    with pytest.raises(RequestLogError, match="missing column"):
        list(read_request_log(path))


@pytest.mark.parametrize(
    ("text", "line", "problem"),
    [
        (
            f"{ONE_LINE}\n[1, 2]\n",
            2,
            "JSON object",
        ),
        ('{"at": "2026-01-01T10:00:00Z", "model": "m",\n', 1, "not JSON"),
        (
            ONE_LINE.replace('"m"', '"two words"') + "\n",
            1,
            "model",
        ),
    ],
)
def test_malformed_jsonl_lines_name_their_line(tmp_path: Path, text: str, line: int, problem: str) -> None:
    path = _write(tmp_path, "log.jsonl", text)
    with pytest.raises(RequestLogError, match=problem) as raised:
        list(read_request_log(path))
    assert f"{path}:{line}:" in str(raised.value)


def test_a_short_csv_row_and_a_missing_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "log.csv", "at,model,context_tokens,generated_tokens\n2026-01-01T10:00:00,m,5\n")
    with pytest.raises(RequestLogError, match=f"{path}:2: expected 4 fields"):
        list(read_request_log(path))
    with pytest.raises(RequestLogError, match="no request log"):
        read_request_log(tmp_path / "absent.csv")
