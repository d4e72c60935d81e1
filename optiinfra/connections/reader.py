"""Customers' connections as workers read them: from the store, secrets opened, kept a short while."""

import time

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.connections.envelope import EnvelopeCipher, SealError
from optiinfra.connections.model import CustomerConnection
from optiinfra.connections.store import cipher_from_settings, load_connection
from optiinfra.settings import Settings

CONNECTION_CACHE_S = 60.0
"""How long a worker keeps a customer's connection before reading it again (a change takes effect within
this)."""


class ConnectionUnusableError(RuntimeError):
    """A customer's connection cannot be used now (its secrets cannot be opened, its role not assumed...):
    the message says why, for the record of the step that needed it."""


class ConnectionReader:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], cipher: EnvelopeCipher | None) -> None:
        self._sessions = sessions
        self._cipher = cipher
        self._cached: dict[str, tuple[float, CustomerConnection | None]] = {}

    @classmethod
    def from_settings(
        cls, settings: Settings, sessions: async_sessionmaker[AsyncSession]
    ) -> "ConnectionReader":
        """Secrets opened with the configured master key; none configured, connections without secrets
        still work and one with secrets is unusable (with that reason)."""
        try:
            cipher: EnvelopeCipher | None = cipher_from_settings(settings)
        except SealError:
            cipher = None
        return cls(sessions, cipher)

    async def get(self, customer_id: str) -> CustomerConnection | None:
        cached = self._cached.get(customer_id)
        if cached is not None and time.monotonic() - cached[0] < CONNECTION_CACHE_S:
            return cached[1]
        try:
            async with self._sessions() as session:
                connection = await load_connection(
                    session=session, cipher=self._cipher, customer_id=customer_id
                )
        except SealError as error:
            raise ConnectionUnusableError(
                f"the connection of {customer_id} cannot be opened: {error}"
            ) from error
        self._cached[customer_id] = (time.monotonic(), connection)
        return connection
