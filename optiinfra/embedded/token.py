"""The embedded stack's credentials: the platform token (from settings, or generated once) and the demo
customer's admin key, both kept in the state dir (mode 0600)."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING

from optiinfra.settings import Settings

if TYPE_CHECKING:  # the store is imported when a key is made: a CLI call reads the token alone
    from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

TOKEN_FILE = "api_token"


def resolve_api_token(settings: Settings) -> str:
    if settings.api_token is not None:
        return settings.api_token.get_secret_value()
    path = settings.state_dir / TOKEN_FILE
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    _write_private(path, token)
    return token


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(text + "\n")


DEMO_KEY_FILE = "demo_admin_key"


async def ensure_demo_admin_key(
    sessions: async_sessionmaker[AsyncSession], settings: Settings, customer_id: str
) -> str:
    """The demo customer's admin key, kept in the state dir (mode 0600) as the platform token is, so a
    newcomer can try the API as a tenant would; made again when the kept one no longer works (a fresh
    store, or revoked)."""
    from optiinfra.access.principal import Role
    from optiinfra.store.api_keys import create_api_key, principal_for_key

    path = settings.state_dir / DEMO_KEY_FILE
    async with sessions.begin() as session:
        if path.exists():
            kept = path.read_text().strip()
            principal = await principal_for_key(session=session, token=kept)
            if principal is not None and principal.customer_id == customer_id:
                return kept
        _, token = await create_api_key(
            session=session,
            customer_id=customer_id,
            role=Role.ADMIN,
            name="demo-admin",
            created_by="optiinfra up",
            expires_at=None,
        )
    _write_private(path, token)
    return token
