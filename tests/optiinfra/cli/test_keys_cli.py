"""`optiinfra keys create|list|revoke` straight against the configured store: a key is printed once, works
as a credential, is listed without its secret, and stops working once revoked; mistakes are one line."""

import asyncio
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from optiinfra.access.principal import Principal, Role
from optiinfra.cli.main import app
from optiinfra.store import repository
from optiinfra.store.api_keys import principal_for_key
from optiinfra.store.database import create_engine_for, migrate, session_factory
from tests.optiinfra.store import factories


async def _principal_of(url: str, token: str) -> Principal | None:
    engine = create_engine_for(url)
    try:
        async with session_factory(engine)() as session:
            return await principal_for_key(session=session, token=token)
    finally:
        await engine.dispose()


async def _add_customer(url: str) -> None:
    await migrate(url)
    engine = create_engine_for(url)
    try:
        async with session_factory(engine).begin() as session:
            await repository.upsert_customer(session=session, customer=factories.customer("acme"))
    finally:
        await engine.dispose()


def test_a_key_is_printed_once_works_and_stops_when_revoked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("OPTIINFRA_DATABASE_URL", url)
    asyncio.run(_add_customer(url))
    runner = CliRunner()

    made = runner.invoke(
        app, ["keys", "create", "--customer", "acme", "--role", "approver", "--name", "oncall"]
    )
    assert made.exit_code == 0, made.output
    token = next(line for line in made.stdout.splitlines() if line.startswith("oik_"))
    key_id = token.split("_")[1]
    principal = asyncio.run(_principal_of(url, token))
    assert principal is not None
    assert (principal.customer_id, principal.role) == ("acme", Role.APPROVER)

    listed = runner.invoke(app, ["keys", "list", "--customer", "acme"])
    header, _, row = listed.stdout.splitlines()
    assert header.split() == ["KEY", "CUSTOMER", "ROLE", "STATE", "EXPIRES", "NAME"]
    assert row.split()[:4] == [key_id, "acme", "approver", "active"] and row.split()[-1] == "oncall"
    assert token.split("_", 2)[2] not in listed.stdout
    as_json = json.loads(runner.invoke(app, ["keys", "list", "--customer", "acme", "--json"]).stdout)
    assert [(key["key_id"], key["role"], key["name"]) for key in as_json] == [(key_id, "approver", "oncall")]
    assert token.split("_", 2)[2] not in json.dumps(as_json)

    revoked = runner.invoke(app, ["keys", "revoke", key_id])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert asyncio.run(_principal_of(url, token)) is None
    assert "revoked" in runner.invoke(app, ["keys", "list"]).stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["keys", "create", "--customer", "nobody", "--role", "viewer"], "unknown customer nobody"),
        (["keys", "create", "--role", "viewer"], "give --customer C or --platform"),
        (
            ["keys", "create", "--platform", "--role", "viewer"],
            "a platform key is an admin key: --role admin",
        ),
        (["keys", "revoke", "0123456789ab"], "no API key 0123456789ab"),
    ],
)
def test_mistakes_are_one_line_and_exit_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, args: list[str], says: str
) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'store.db'}"
    monkeypatch.setenv("OPTIINFRA_DATABASE_URL", url)
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"error: {says}"
