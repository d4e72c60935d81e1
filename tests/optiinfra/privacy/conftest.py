"""A migrated store (SQLite and PostgreSQL) with two registered customers, and tier-3 settings."""

from collections.abc import AsyncIterator

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from optiinfra.privacy.crypto import PromptCipher
from optiinfra.settings import Settings
from optiinfra.store import repository
from optiinfra.store.database import create_engine_for, session_factory
from tests.optiinfra.store import factories

CUSTOMERS = ("acme", "globex")
WORKLOADS = ("chat", "batch")


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine_for(database_url)
    yield engine
    await engine.dispose()


@pytest.fixture
async def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Customers acme and globex, each with workloads chat and batch."""
    sessions = session_factory(engine)
    async with sessions.begin() as session:
        for customer_id in CUSTOMERS:
            await repository.upsert_customer(session=session, customer=factories.customer(customer_id))
            for workload_id in WORKLOADS:
                await repository.upsert_workload(
                    session=session, workload=factories.workload(customer_id, workload_id)
                )
    return sessions


@pytest.fixture
def key() -> SecretStr:
    return SecretStr(Fernet.generate_key().decode())


@pytest.fixture
def settings(key: SecretStr) -> Settings:
    return Settings(prompt_encryption_key=key)


@pytest.fixture
def cipher(key: SecretStr) -> PromptCipher:
    return PromptCipher(key)
