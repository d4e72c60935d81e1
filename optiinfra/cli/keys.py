"""`optiinfra keys create|list|revoke`: API keys, made straight in the configured store (the first admin key
of a customer cannot come from the API, which needs a key). A key's token is printed once."""

import asyncio
import getpass
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, TypeVar

import typer

from optiinfra.cli.choices import RoleChoice
from optiinfra.cli.errors import fail
from optiinfra.cli.output import AsJson, print_json, print_table

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncSession

    from optiinfra.store.api_keys import ApiKey

keys_app = typer.Typer(help="API keys: one customer (or the platform), one role each.", no_args_is_help=True)
T = TypeVar("T")
MAX_LISTED = 500
LIST_COLUMNS = ("KEY", "CUSTOMER", "ROLE", "STATE", "EXPIRES", "NAME")


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _in_store(work: Callable[["AsyncSession"], Awaitable[T]]) -> T:
    """Run `work` in one transaction of the configured store (migrated first, as `optiinfra up` does)."""
    from optiinfra.settings import Settings
    from optiinfra.store.database import create_engine_for, migrate, session_factory

    async def run() -> T:
        url = Settings().effective_database_url
        await migrate(url)
        engine = create_engine_for(url)
        try:
            async with session_factory(engine).begin() as session:
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())


@keys_app.command("create")
def create(
    role: Annotated[RoleChoice, typer.Option(help="What the key may do")],
    customer: Annotated[str | None, typer.Option(help="The customer the key acts for")] = None,
    platform: Annotated[bool, typer.Option(help="A platform-admin key (every customer)")] = False,
    name: Annotated[str, typer.Option(help="What the key is for, e.g. ci-bot")] = "cli",
    expires: Annotated[int | None, typer.Option(help="Days until it expires (default: never)", min=1)] = None,
) -> None:
    """Make a key and print its token once: it is stored only as a hash."""
    from optiinfra.access.principal import Role
    from optiinfra.store import repository
    from optiinfra.store.api_keys import create_api_key

    if (customer is None) == (not platform):
        raise fail("give --customer C or --platform")
    if platform and role is not RoleChoice.ADMIN:
        raise fail("a platform key is an admin key: --role admin")
    expires_at = None if expires is None else datetime.now(UTC) + timedelta(days=expires)

    async def work(session: "AsyncSession") -> "tuple[ApiKey, str] | None":
        if (
            customer is not None
            and await repository.get_customer(session=session, customer_id=customer) is None
        ):
            return None
        key, token = await create_api_key(
            session=session,
            customer_id=customer,
            role=Role(role.value),
            name=name,
            created_by=_actor(),
            expires_at=expires_at,
        )
        await repository.append_audit(
            session=session,
            actor=_actor(),
            action="api_key.created",
            subject=f"key:{key.key_id}",
            customer_id=customer,
            detail={},
            after=key,
        )
        return key, token

    made = _in_store(work)
    if made is None:
        raise fail(f"unknown customer {customer}")
    key, token = made
    typer.echo(
        f"key {key.key_id}: {key.role.value} of {key.customer_id or 'the platform'}, "
        f"expires {_when(key.expires_at)}"
    )
    typer.echo(token)
    typer.echo("This is the only time the key is shown.", err=True)


@keys_app.command("list")
def list_keys(
    customer: Annotated[str | None, typer.Option(help="Only this customer's keys")] = None,
    as_json: AsJson = False,
) -> None:
    """Keys, newest first: id, customer, role, state, expiry, name. Never a secret."""
    from optiinfra.store.api_keys import page_api_keys

    async def work(session: "AsyncSession") -> "list[ApiKey]":
        items, _ = await page_api_keys(session=session, customer_id=customer, limit=MAX_LISTED, offset=0)
        return items

    found = _in_store(work)
    if as_json:
        print_json(found)
        return
    now = datetime.now(UTC)
    rows = [
        (
            key.key_id,
            key.customer_id or "(platform)",
            key.role.value,
            "revoked" if key.revoked_at else ("active" if key.active_at(now) else "expired"),
            _when(key.expires_at),
            key.name,
        )
        for key in found
    ]
    print_table(LIST_COLUMNS, rows, empty="no keys")


@keys_app.command("revoke")
def revoke(key_id: Annotated[str, typer.Argument(help="The key's id (see `keys list`)")]) -> None:
    """Revoke a key: requests with it get 401 from now on."""
    from optiinfra.store import repository
    from optiinfra.store.api_keys import KeyNotFoundError, revoke_api_key

    async def work(session: "AsyncSession") -> "ApiKey":
        key = await revoke_api_key(session=session, key_id=key_id)
        await repository.append_audit(
            session=session,
            actor=_actor(),
            action="api_key.revoked",
            subject=f"key:{key_id}",
            customer_id=key.customer_id,
            detail={},
            after=key,
        )
        return key

    try:
        key = _in_store(work)
    except KeyNotFoundError as error:
        raise fail(error) from error
    typer.echo(f"key {key.key_id} revoked at {key.revoked_at:%Y-%m-%d %H:%M:%S} UTC")


def _when(at: datetime | None) -> str:
    return "never" if at is None else f"{at:%Y-%m-%d %H:%M} UTC"
