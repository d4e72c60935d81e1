"""vLLM argument helpers: both flag forms, both spellings, in-place edits."""

import pytest

from optiinfra.kube.vllm_args import describe_change, flag_value, parse_flags, with_flag, without_flag

ARGS = [
    "--model",
    "m",
    "--max-num-seqs",
    "256",
    "--enforce-eager",
    "--gpu-memory-utilization=0.9",
    "--port",
    "8000",
]


@pytest.mark.parametrize(
    ("flag", "expected"),
    [
        ("--max-num-seqs", "256"),
        ("--max_num_seqs", "256"),
        ("max-num-seqs", "256"),
        ("--gpu-memory-utilization", "0.9"),
        ("--gpu_memory_utilization", "0.9"),
        ("--enforce-eager", ""),
        ("--port", "8000"),
        ("--tensor-parallel-size", None),
        ("--model", "m"),
    ],
)
def test_flag_value(flag: str, expected: str | None) -> None:
    assert flag_value(ARGS, flag) == expected


def test_flag_value_underscore_spelling_in_args_and_last_one_wins() -> None:
    args = ["--max_num_seqs", "64", "--max-num-seqs=128"]
    assert flag_value(args, "--max-num-seqs") == "128"
    assert flag_value(["--seed", "-1"], "--seed") == "-1", "a negative number is a value"
    assert flag_value(["--enforce-eager"], "--enforce-eager") == ""


def test_with_flag_replaces_in_place_keeping_spelling_and_form() -> None:
    expected = [*ARGS[:3], "128", *ARGS[4:]]
    assert with_flag(ARGS, "--max_num_seqs", 128) == expected
    assert with_flag(ARGS, "--gpu-memory-utilization", "0.85")[5] == "--gpu-memory-utilization=0.85"
    assert with_flag(["--max_num_seqs", "64"], "--max-num-seqs", "8") == ["--max_num_seqs", "8"]
    assert with_flag(["--enforce-eager", "--port", "1"], "--enforce-eager", "true") == [
        "--enforce-eager", "true", "--port", "1"
    ]  # fmt: skip


def test_with_flag_appends_when_absent_and_drops_duplicates() -> None:
    assert with_flag(["--model", "m"], "max_num_seqs", 32) == ["--model", "m", "--max-num-seqs", "32"]
    duplicated = ["--max-num-seqs", "1", "--model", "m", "--max_num_seqs=2"]
    assert with_flag(duplicated, "--max-num-seqs", "3") == ["--max-num-seqs", "3", "--model", "m"]
    assert ARGS[3] == "256", "the input is not modified"


def test_without_flag_removes_every_form() -> None:
    args = ["--max-num-seqs", "1", "--model", "m", "--max_num_seqs=2", "--enforce-eager"]
    assert without_flag(args, "--max-num-seqs") == ["--model", "m", "--enforce-eager"]
    assert without_flag(args, "--enforce-eager") == [
        "--max-num-seqs",
        "1",
        "--model",
        "m",
        "--max_num_seqs=2",
    ]
    assert without_flag(args, "--absent") == args


def test_parse_flags_and_describe_change() -> None:
    assert parse_flags(ARGS)["max-num-seqs"] == "256"
    after = [
        *without_flag(with_flag(ARGS, "--max-num-seqs", 128), "--enforce-eager"),
        "--kv-cache-dtype",
        "fp8",
    ]
    assert describe_change(ARGS, after) == (
        "--max-num-seqs 256 -> 128, --enforce-eager removed, --kv-cache-dtype fp8 added"
    )
    assert describe_change(ARGS, list(ARGS)) == "no change"
