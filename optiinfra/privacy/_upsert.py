"""INSERT ... ON CONFLICT DO UPDATE, spelt the same way on SQLite and PostgreSQL."""

from collections.abc import Sequence

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from optiinfra.store.tables import Base


def upsert(
    session: AsyncSession, entity: type[Base], *, key: Sequence[str], update: Sequence[str]
) -> postgresql.Insert | sqlite.Insert:
    """An INSERT of `entity` that, on a conflict on the unique `key`, overwrites the `update` columns.
    Execute it with the rows as parameters."""
    dialect = session.get_bind().dialect.name
    statement: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(entity)
    elif dialect == "sqlite":
        statement = sqlite.insert(entity)
    else:
        raise NotImplementedError(f"the store supports SQLite and PostgreSQL, not {dialect}")
    changes = {name: statement.excluded[name] for name in update}
    return statement.on_conflict_do_update(index_elements=list(key), set_=changes)
