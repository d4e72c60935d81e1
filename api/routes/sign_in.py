"""What a browser needs to sign a person in with their customer's identity provider, asked before it holds
any credential (so this router is mounted without `authenticate`).

It tells only what the provider publishes anyway (its issuer) and the audience its tokens are minted for,
which the browser sends as its client id in the authorization-code flow with PKCE; no secret is involved.
A customer without a provider and a customer that does not exist get the same 404, so the answer says no
more about which customers exist than trying to sign in would."""

from typing import Annotated

from fastapi import APIRouter, HTTPException, Query, status
from pydantic import BaseModel, Field

from api.deps import SessionsDep
from api.errors import NOT_FOUND, StrictJSONRoute
from api.schemas import IDENTIFIER
from optiinfra.store.identity_providers import get_identity_provider

router = APIRouter(prefix="/auth", tags=["session"], route_class=StrictJSONRoute)

SCOPES = "openid profile email"
"""The ID token carries the subject and, with these, the email the principal is named by."""


class OidcSignIn(BaseModel):
    issuer: str = Field(description="Its discovery document is at {issuer}/.well-known/openid-configuration")
    client_id: str = Field(description="The audience the provider's tokens must carry")
    scopes: str = Field(description="Space-separated, as the authorization request's `scope`")


@router.get("/oidc", responses=NOT_FOUND)
async def oidc_sign_in(
    sessions: SessionsDep, customer_id: Annotated[str, Query(pattern=IDENTIFIER)]
) -> OidcSignIn:
    """No credential needed. The customer's identity provider, for the authorization-code flow with PKCE;
    the ID token it issues is then the bearer credential. 404 when the customer has none (or no such
    customer)."""
    async with sessions() as session:
        provider = await get_identity_provider(session=session, customer_id=customer_id)
    if provider is None:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND, detail=f"no single sign-on is configured for {customer_id}"
        )
    return OidcSignIn(issuer=provider.issuer, client_id=provider.audience, scopes=SCOPES)
