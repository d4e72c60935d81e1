"""The commands that go through the control-plane API (`recommendations list|show`, `workloads list`,
`optimize`), run against the real API served over HTTP with a real store and the Temporal dev server: tables
with a header, `--json`, the detail of one recommendation, optimizations that really start, and every
mistake as one line."""

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from typer.testing import CliRunner, Result

from api.app import create_app
from optiinfra.cli.main import app
from optiinfra.domain.enums import RecommendationStatus
from optiinfra.engine.devserver import free_port
from optiinfra.settings import Settings
from optiinfra.store import repository
from optiinfra.store.database import create_engine_for, session_factory
from tests.optiinfra.store import factories
from tests.support.served_api import served

SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

TOKEN = "cli-test-token-0123456789"
CUSTOMERS = ("cli-acme", "cli-globex")
"""Customers of these tests alone: the dev server is shared by the whole session."""


def _invoke(*args: str) -> Result:
    return CliRunner().invoke(app, list(args))


async def _cli(*args: str) -> Result:
    """The command in a thread of its own (it runs its own event loop) while this loop serves the API."""
    return await asyncio.to_thread(_invoke, *args)


def _one_line_error(result: Result, code: int) -> str:
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output and not result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


@pytest.fixture
async def api_sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine_for(database_url)
    yield session_factory(engine)
    await engine.dispose()


@pytest.fixture
async def api_url(
    api_sessions: async_sessionmaker[AsyncSession],
    temporal_client: Client,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> AsyncIterator[str]:
    """Two customers with a workload `chat` each, `cli-acme` also with `solo`; two recommendations of
    `cli-acme`; the API over HTTP, and the CLI pointed at it (no `optiinfra up` in the state dir)."""
    async with api_sessions.begin() as session:
        for customer in CUSTOMERS:
            await repository.upsert_customer(session=session, customer=factories.customer(customer))
            await repository.upsert_workload(session=session, workload=factories.workload(customer, "chat"))
        await repository.upsert_workload(session=session, workload=factories.workload(CUSTOMERS[0], "solo"))
        await repository.save_recommendation(
            session=session, recommendation=factories.recommendation("cli-rec-1", customer_id=CUSTOMERS[0])
        )
        await repository.save_recommendation(
            session=session,
            recommendation=factories.recommendation(
                "cli-rec-2", customer_id=CUSTOMERS[0], status=RecommendationStatus.EXECUTED
            ),
        )
    settings = Settings(temporal_task_queue="cli-tests", api_token=SecretStr(TOKEN))
    async with served(create_app(settings, client=temporal_client, sessions=api_sessions)) as url:
        monkeypatch.setenv("OPTIINFRA_STATE_DIR", str(tmp_path / "state"))
        monkeypatch.setenv("OPTIINFRA_API_HOST", "127.0.0.1")
        monkeypatch.setenv("OPTIINFRA_API_PORT", url.rsplit(":", 1)[1])
        monkeypatch.setenv("OPTIINFRA_API_TOKEN", TOKEN)
        yield url


@SQLITE
async def test_recommendations_list_is_a_table_with_a_header_or_json(api_url: str) -> None:
    listed = await _cli("recommendations", "list", "--customer", CUSTOMERS[0])
    assert listed.exit_code == 0, listed.output
    header, *rows = [line for line in listed.stdout.splitlines() if line.strip() and not line.startswith("─")]
    assert header.split() == ["ID", "STATUS", "SAVINGS/MONTH", "RISK", "AGENT", "WORKLOAD", "TITLE"]
    assert sorted(row.split()[0] for row in rows) == ["cli-rec-1", "cli-rec-2"]
    assert "$1,235" in listed.stdout and "cli-acme/chat" in listed.stdout

    pending = await _cli(
        "recommendations", "list", "--customer", CUSTOMERS[0], "--status", "pending_approval"
    )
    assert "cli-rec-1" in pending.stdout and "cli-rec-2" not in pending.stdout

    as_json = await _cli("recommendations", "list", "--customer", CUSTOMERS[0], "--json")
    assert as_json.exit_code == 0, as_json.output
    items = json.loads(as_json.stdout)
    assert {item["id"]: item["status"] for item in items} == {
        "cli-rec-1": "pending_approval",
        "cli-rec-2": "executed",
    }

    none = await _cli("recommendations", "list", "--customer", CUSTOMERS[1])
    assert none.exit_code == 0 and none.stdout.strip() == "no recommendations"


@SQLITE
async def test_recommendations_show_prints_one_in_full(api_url: str) -> None:
    shown = await _cli("recommendations", "show", "cli-rec-1")
    assert shown.exit_code == 0, shown.output
    text = shown.stdout
    assert text.startswith("cli-rec-1: Move chat to spot")
    assert "pending_approval" in text and "cli-acme/chat" in text and "cost (spot_migration)" in text
    assert "$1,235/month ($3,000 -> $1,765 a month)" in text
    assert "Stateless replicas with low interruption rates." in text
    assert "Steps (2):" in text and "launch_replacement i-0abc" in text
    assert "undo: terminate_launched i-0abc" in text
    assert "source: spot-advisor" in text

    as_json = await _cli("recommendations", "show", "cli-rec-1", "--json")
    detail = json.loads(as_json.stdout)
    assert detail["id"] == "cli-rec-1" and len(detail["steps"]) == 2

    missing = await _cli("recommendations", "show", "no-such-rec")
    assert _one_line_error(missing, 1) == "error: HTTP 404: no recommendation no-such-rec"


@SQLITE
async def test_optimize_starts_a_joint_or_one_agents_optimization(
    api_url: str, temporal_client: Client
) -> None:
    started: list[str] = []
    try:
        joint = await _cli("optimize", "solo")  # one customer has it: found without --customer
        assert joint.exit_code == 0, joint.output
        started.append(joint.stdout.strip())
        assert started[-1].startswith(f"joint/{CUSTOMERS[0]}/solo/")

        one = await _cli("optimize", "chat", "--customer", CUSTOMERS[1], "--agent", "cost")
        assert one.exit_code == 0, one.output
        started.append(one.stdout.strip())
        assert started[-1].startswith(f"opt/{CUSTOMERS[1]}/chat/cost")

        for workflow_id in started:
            described = await temporal_client.get_workflow_handle(workflow_id).describe()
            assert described.id == workflow_id
    finally:
        for workflow_id in started:
            await temporal_client.get_workflow_handle(workflow_id).terminate("test over")

    ambiguous = await _cli("optimize", "chat")
    assert _one_line_error(ambiguous, 2) == (
        "error: workload chat belongs to customers cli-acme, cli-globex: pass --customer"
    )
    unknown = await _cli("optimize", "nowhere")
    assert "no workload nowhere" in _one_line_error(unknown, 2)
    refused = await _cli("optimize", "nowhere", "--customer", CUSTOMERS[0])
    assert _one_line_error(refused, 1).startswith("error: HTTP 404:")
    bad_agent = await _cli("optimize", "chat", "--agent", "finance")
    assert "'cost', 'performance', 'resource', 'application'" in _one_line_error(bad_agent, 2)


@SQLITE
async def test_workloads_list(api_url: str) -> None:
    listed = await _cli("workloads", "list")
    assert listed.exit_code == 0, listed.output
    assert listed.stdout.split("\n", 1)[0].split() == [
        "CUSTOMER",
        "WORKLOAD",
        "NAME",
        "MODEL",
        "REGION",
        "KUBERNETES",
    ]
    found = json.loads((await _cli("workloads", "list", "--json")).stdout)
    assert {(item["customer_id"], item["workload_id"]) for item in found} == {
        ("cli-acme", "chat"),
        ("cli-acme", "solo"),
        ("cli-globex", "chat"),
    }


def test_no_api_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPTIINFRA_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("OPTIINFRA_API_PORT", str(free_port()))
    monkeypatch.setenv("OPTIINFRA_API_TOKEN", TOKEN)
    for args in (["recommendations", "list"], ["recommendations", "show", "x"], ["optimize", "chat"]):
        assert "no API answers at http://127.0.0.1:" in _one_line_error(_invoke(*args), 1)
