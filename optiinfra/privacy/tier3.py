"""Tier 3 (opt-in per customer): prompt and completion text, encrypted before it reaches the store and
decrypted only by a view that holds the key; every write and every read is appended to the audit log
(who, why, which requests; never the text)."""

from collections.abc import Sequence
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from optiinfra.privacy import consent
from optiinfra.privacy._upsert import upsert
from optiinfra.privacy.crypto import PromptCipher
from optiinfra.privacy.errors import PrivacyError
from optiinfra.privacy.records import Identifier
from optiinfra.privacy.tier2 import Tier2View
from optiinfra.privacy.tiers import PrivacyTier
from optiinfra.store import repository
from optiinfra.store.tables import PromptVaultRow, utc_now

CONTENT_WRITTEN = "prompt_content.written"
CONTENT_READ = "prompt_content.read"
MAX_REFS_PER_READ = 1000
VAULT_KEY = ("customer_id", "workload_id", "request_ref")


class PromptContent(BaseModel):
    """One request's text, as the customer sent it and as a tier-3 view returns it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    request_ref: Identifier
    at: datetime
    prompt: str
    completion: str = ""


class _Sealed(BaseModel):
    """What is encrypted: the text together with the row it belongs to, so a ciphertext moved to another
    row (another customer's, say) is detected on reading rather than served as that row's content."""

    customer_id: str
    workload_id: str
    request_ref: str
    prompt: str
    completion: str


def content_subject(customer_id: str, workload_id: str) -> str:
    """The audit-log subject of a workload's prompt content."""
    return f"{customer_id}/{workload_id}"


async def store_prompt_contents(
    *,
    session: AsyncSession,
    cipher: PromptCipher,
    customer_id: str,
    workload_id: str,
    contents: Sequence[PromptContent],
    actor: str,
) -> int:
    """Encrypt and store the contents (tier 3 only, else TierNotAllowedError); the plaintext never reaches
    the database. A request_ref stored before is overwritten. Audited; returns how many were given."""
    await consent.require_tier(
        session=session,
        customer_id=customer_id,
        needed=PrivacyTier.CONTENT,
        what="storing prompt content",
        lock=True,
    )
    stored_at = utc_now()
    rows = {
        content.request_ref: {
            "customer_id": customer_id,
            "workload_id": workload_id,
            "request_ref": content.request_ref,
            "at": content.at,
            "ciphertext": _seal(cipher, customer_id, workload_id, content),
            "stored_at": stored_at,
        }
        for content in contents
    }
    if not rows:
        return 0
    statement = upsert(session, PromptVaultRow, key=VAULT_KEY, update=("at", "ciphertext", "stored_at"))
    await session.execute(statement, list(rows.values()))
    await repository.append_audit(
        session=session,
        actor=actor,
        action=CONTENT_WRITTEN,
        subject=content_subject(customer_id, workload_id),
        customer_id=customer_id,
        detail={"workload_id": workload_id, "request_refs": sorted(rows)},
    )
    return len(contents)


class Tier3View(Tier2View):
    """Tier 2's reads plus the customer's prompt content, decrypted with the key it holds and audited."""

    __slots__ = ("_cipher",)
    tier: ClassVar[PrivacyTier] = PrivacyTier.CONTENT

    def __init__(
        self, *, customer_id: str, sessions: async_sessionmaker[AsyncSession], cipher: PromptCipher
    ) -> None:
        super().__init__(customer_id=customer_id, sessions=sessions)
        self._cipher = cipher

    async def prompt_contents(
        self,
        workload_id: str,
        *,
        request_refs: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        actor: str,
        purpose: str,
    ) -> list[PromptContent]:
        """The workload's stored prompts, either those of `request_refs` or those with
        `since <= at < until`, oldest first. `actor` and `purpose` go to the audit entry this read
        appends, in the same transaction: content is returned only once its read is recorded."""
        if not actor.strip() or not purpose.strip():
            raise ValueError("reading prompt content needs an actor and a purpose, for the audit log")
        query = select(PromptVaultRow.request_ref, PromptVaultRow.at, PromptVaultRow.ciphertext).where(
            PromptVaultRow.customer_id == self._customer_id, PromptVaultRow.workload_id == workload_id
        )
        requested: dict[str, object]
        if request_refs is not None and since is None and until is None:
            if len(request_refs) > MAX_REFS_PER_READ:
                raise ValueError(f"at most {MAX_REFS_PER_READ} request refs per read")
            query = query.where(PromptVaultRow.request_ref.in_(list(request_refs)))
            requested = {"request_refs": sorted(set(request_refs))}
        elif request_refs is None and since is not None and until is not None:
            if until < since:
                raise ValueError("the window ends before it starts")
            query = query.where(PromptVaultRow.at >= since, PromptVaultRow.at < until)
            requested = {"since": since, "until": until}
        else:
            raise ValueError("give either request_refs or both since and until")

        async with self._sessions.begin() as session:
            await consent.require_tier(
                session=session,
                customer_id=self._customer_id,
                needed=PrivacyTier.CONTENT,
                what="reading prompt content",
            )
            rows = (await session.execute(query.order_by(PromptVaultRow.at, PromptVaultRow.id))).all()
            contents = [
                _open(self._cipher, self._customer_id, workload_id, row.request_ref, row.at, row.ciphertext)
                for row in rows
            ]
            await repository.append_audit(
                session=session,
                actor=actor,
                action=CONTENT_READ,
                subject=content_subject(self._customer_id, workload_id),
                customer_id=self._customer_id,
                detail={
                    "workload_id": workload_id,
                    "purpose": purpose,
                    "requested": requested,
                    "request_refs": [content.request_ref for content in contents],
                },
            )
        return contents


def _seal(cipher: PromptCipher, customer_id: str, workload_id: str, content: PromptContent) -> bytes:
    sealed = _Sealed(
        customer_id=customer_id,
        workload_id=workload_id,
        request_ref=content.request_ref,
        prompt=content.prompt,
        completion=content.completion,
    )
    return cipher.encrypt(sealed.model_dump_json().encode())


def _open(
    cipher: PromptCipher, customer_id: str, workload_id: str, request_ref: str, at: datetime, token: bytes
) -> PromptContent:
    sealed = _Sealed.model_validate_json(cipher.decrypt(token))
    if (sealed.customer_id, sealed.workload_id, sealed.request_ref) != (
        customer_id,
        workload_id,
        request_ref,
    ):
        raise PrivacyError(
            f"the stored content of {customer_id}/{workload_id}/{request_ref} was encrypted for another "
            "request; refusing to return it"
        )
    return PromptContent(request_ref=request_ref, at=at, prompt=sealed.prompt, completion=sealed.completion)
