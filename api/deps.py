"""Request dependencies as Annotated aliases: the one Temporal client and session factory created in
the app's lifespan, the settings, and the principal a request acts as.

Authentication: a bearer credential is the platform token (OPTIINFRA_API_TOKEN, a platform admin), an API
key (`oik_...`) or an OIDC ID/access token from the customer's identity provider. Anything else,
malformed included, is a 401. Authorization: `Needs(role)` checks the principal's role; routes check the
tenant with `require_customer` (403) or, for a resource found by id, answer 404 as if it did not exist."""

from typing import Annotated

from fastapi import Depends, HTTPException, Request, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from optiinfra.access.keys import same_token, split_key
from optiinfra.access.oidc import OidcError, OidcVerifier, looks_like_jwt, unverified_issuer
from optiinfra.access.principal import PLATFORM_TOKEN_PRINCIPAL, Principal, Role, TenantError
from optiinfra.metrics.reporting import ReportingMetrics
from optiinfra.settings import Settings
from optiinfra.store.api_keys import principal_for_key
from optiinfra.store.identity_providers import provider_for_issuer

_bearer = HTTPBearer(auto_error=False)


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _client(request: Request) -> Client:
    client: Client = request.app.state.temporal
    return client


def _sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    sessions: async_sessionmaker[AsyncSession] = request.app.state.sessions
    return sessions


def _metrics(request: Request) -> ReportingMetrics | None:
    """None when this process holds no metrics store (see `create_app`): measured figures are then missing."""
    metrics: ReportingMetrics | None = getattr(request.app.state, "metrics", None)
    return metrics


def _oidc(request: Request) -> OidcVerifier:
    verifier: OidcVerifier = request.app.state.oidc
    return verifier


SettingsDep = Annotated[Settings, Depends(_settings)]
TemporalDep = Annotated[Client, Depends(_client)]
SessionsDep = Annotated[async_sessionmaker[AsyncSession], Depends(_sessions)]
MetricsDep = Annotated[ReportingMetrics | None, Depends(_metrics)]


MISSING_CREDENTIAL = "missing or invalid bearer credential"


def _unauthorized(detail: str = MISSING_CREDENTIAL) -> HTTPException:
    return HTTPException(
        status_code=status.HTTP_401_UNAUTHORIZED, detail=detail, headers={"WWW-Authenticate": "Bearer"}
    )


class CredentialRefused(Exception):
    """A bearer credential that stands for no principal; the message says why (a 401's detail)."""


async def principal_from_token(
    token: str,
    *,
    settings: Settings,
    sessions: async_sessionmaker[AsyncSession],
    oidc: OidcVerifier,
) -> Principal:
    """The principal a bearer credential stands for: the platform token, an API key or an OIDC token.
    Raises CredentialRefused otherwise. The API's routes and its MCP endpoint both authenticate here."""
    if not token:
        raise CredentialRefused(MISSING_CREDENTIAL)
    platform = settings.api_token.get_secret_value() if settings.api_token else ""
    if platform and same_token(token, platform):
        return PLATFORM_TOKEN_PRINCIPAL
    if split_key(token) is not None:
        async with sessions() as session:
            principal = await principal_for_key(session=session, token=token)
        if principal is None:
            raise CredentialRefused("unknown, revoked or expired API key")
        return principal
    if looks_like_jwt(token):
        try:
            return await _oidc_principal(oidc, sessions, token)
        except OidcError as error:
            raise CredentialRefused(f"token refused: {error}") from error
    raise CredentialRefused(MISSING_CREDENTIAL)


async def authenticate(
    settings: SettingsDep,
    sessions: SessionsDep,
    oidc: Annotated[OidcVerifier, Depends(_oidc)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    try:
        return await principal_from_token(
            credentials.credentials if credentials else "", settings=settings, sessions=sessions, oidc=oidc
        )
    except CredentialRefused as error:
        raise _unauthorized(str(error)) from error


async def _oidc_principal(
    oidc: OidcVerifier, sessions: async_sessionmaker[AsyncSession], token: str
) -> Principal:
    issuer = unverified_issuer(token)
    async with sessions() as session:
        provider = await provider_for_issuer(session=session, issuer=issuer)
    if provider is None:
        raise OidcError(f"no customer registered the issuer {issuer[:200]}")
    return await oidc.principal_of(token, provider)


PrincipalDep = Annotated[Principal, Depends(authenticate)]


class Needs:
    """`Depends(Needs(Role.APPROVER))`: the principal, if its role includes `role`; else 403."""

    def __init__(self, role: Role) -> None:
        self.role = role

    def __call__(self, principal: PrincipalDep) -> Principal:
        refused = role_refusal(principal, self.role)
        if refused is not None:
            raise HTTPException(status.HTTP_403_FORBIDDEN, detail=refused)
        return principal


def role_refusal(principal: Principal, role: Role) -> str | None:
    """Why the principal may not do what needs `role`; None when it may."""
    if principal.role.includes(role):
        return None
    return f"{principal.name} is a {principal.role.value}; this needs {role.value}"


Viewer = Annotated[Principal, Depends(Needs(Role.VIEWER))]
Approver = Annotated[Principal, Depends(Needs(Role.APPROVER))]
Operator = Annotated[Principal, Depends(Needs(Role.OPERATOR))]
Admin = Annotated[Principal, Depends(Needs(Role.ADMIN))]


def require_customer(principal: Principal, customer_id: str) -> None:
    """403 unless the principal may act on this customer."""
    if not principal.can_act_on(customer_id):
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            detail=f"{principal.name} belongs to customer {principal.customer_id}, not {customer_id}",
        )


def scoped_customer(principal: Principal, customer_id: str | None) -> str | None:
    """The customer a list is narrowed to; 403 when a tenant names another customer."""
    try:
        return principal.scope(customer_id)
    except TenantError as error:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail=str(error)) from error


def require_platform_admin(principal: Principal) -> None:
    if not principal.is_platform_admin:
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="this needs a platform admin")
