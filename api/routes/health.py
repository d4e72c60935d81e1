from fastapi import APIRouter
from sqlalchemy import text

from api.deps import SessionsDep, TemporalDep
from api.errors import StrictJSONRoute
from api.schemas import Health

router = APIRouter(tags=["health"], route_class=StrictJSONRoute)


@router.get("/healthz")
async def healthz(client: TemporalDep, sessions: SessionsDep) -> Health:
    """Liveness and whether the workflow engine and the store answer."""
    try:
        temporal_ok = await client.service_client.check_health()
    except Exception:
        temporal_ok = False
    try:
        async with sessions() as session:
            await session.execute(text("SELECT 1"))
        database_ok = True
    except Exception:
        database_ok = False
    return Health(
        status="ok" if temporal_ok and database_ok else "degraded", temporal=temporal_ok, database=database_ok
    )
