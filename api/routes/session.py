"""Who the caller is, for a client that shapes itself to it: the web console shows the actions the role
allows and links runs to the Temporal UI. The role checks stay on each route; this only informs."""

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.deps import PrincipalDep, SettingsDep
from api.errors import StrictJSONRoute
from optiinfra.access.principal import Principal

router = APIRouter(tags=["session"], route_class=StrictJSONRoute)


class Session(BaseModel):
    principal: Principal = Field(
        description="`customer_id` null: a platform admin, who acts on every customer"
    )
    temporal_ui_url: str | None = Field(
        description="The Temporal UI of the engine the runs live in; null when none is known. A run is at "
        "{temporal_ui_url}/namespaces/{temporal_namespace}/workflows/{workflow_id}"
    )
    temporal_namespace: str


@router.get("/session")
async def session(principal: PrincipalDep, settings: SettingsDep) -> Session:
    """The authenticated principal (name, role, customer) and where its runs show in the Temporal UI."""
    return Session(
        principal=principal,
        temporal_ui_url=settings.temporal_ui_url.rstrip("/") if settings.temporal_ui_url else None,
        temporal_namespace=settings.temporal_namespace,
    )
