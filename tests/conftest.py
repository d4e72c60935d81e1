"""Shared fixtures: each real part the tests need lives in its own module under tests/support."""

pytest_plugins = [
    "tests.support.postgres",
    "tests.support.cloud",
    "tests.support.temporal",
    "tests.support.data",
    "tests.support.openai_stub",
    "tests.support.real_vllm",
]
