"""Customers' connections in the store. Secrets are sealed before they are written and opened only for a
worker about to act (`load_connection`); what the API shows (`ConnectionView`) never holds one."""

import json

import boto3
from pydantic import SecretStr
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from optiinfra.connections.envelope import EnvelopeCipher, FernetMasterKey, KmsMasterKey, Sealed, SealError
from optiinfra.connections.model import (
    SECRET_NAMES,
    ConnectionSecrets,
    ConnectionSpec,
    ConnectionView,
    CustomerConnection,
)
from optiinfra.settings import Settings
from optiinfra.store.repository import upsert_statement
from optiinfra.store.tables import CustomerConnectionRow, utc_now


def cipher_from_settings(settings: Settings) -> EnvelopeCipher:
    """The KMS key when one is set, else the Fernet key; SealError when neither is."""
    if settings.connection_kms_key_id:
        kms = boto3.client(
            "kms",
            region_name=settings.aws_region,
            endpoint_url=settings.connection_kms_endpoint_url or None,
        )
        return EnvelopeCipher(KmsMasterKey(kms, settings.connection_kms_key_id))
    if settings.connection_key is not None:
        return EnvelopeCipher(FernetMasterKey(settings.connection_key))
    raise SealError("connection secrets need OPTIINFRA_CONNECTION_KEY or OPTIINFRA_CONNECTION_KMS_KEY_ID")


async def put_connection(
    *,
    session: AsyncSession,
    cipher: EnvelopeCipher | None,
    customer_id: str,
    spec: ConnectionSpec,
    secrets: ConnectionSecrets,
) -> ConnectionView:
    """Replace the spec; of the secrets, those set in `secrets` replace (an empty one clears), the others
    keep their stored value. Raises SealError when a secret is given and there is no master key."""
    row = await session.get(CustomerConnectionRow, customer_id, populate_existing=True, with_for_update=True)
    kept = await _open(row, cipher) if row is not None and row.ciphertext is not None else {}
    for name in secrets.model_fields_set:
        value: SecretStr | None = getattr(secrets, name)
        if value is None or not value.get_secret_value():
            kept.pop(name, None)
        else:
            kept[name] = value.get_secret_value()
    sealed: Sealed | None = None
    if kept:
        if cipher is None:
            raise SealError(
                "connection secrets need OPTIINFRA_CONNECTION_KEY or OPTIINFRA_CONNECTION_KMS_KEY_ID"
            )
        sealed = await cipher.seal(json.dumps(kept).encode())
    now = utc_now()
    values = {
        "customer_id": customer_id,
        "spec": spec.model_dump(mode="json"),
        "secrets_set": sorted(kept),
        "key_ref": None if sealed is None else sealed.key_ref,
        "wrapped_key": None if sealed is None else sealed.wrapped_key,
        "ciphertext": None if sealed is None else sealed.ciphertext,
        "updated_at": now,
    }
    await session.execute(upsert_statement(session, CustomerConnectionRow, values, key=("customer_id",)))
    return ConnectionView(customer_id=customer_id, spec=spec, secrets_set=sorted(kept), updated_at=now)


async def get_connection_view(*, session: AsyncSession, customer_id: str) -> ConnectionView | None:
    row = await session.get(CustomerConnectionRow, customer_id, populate_existing=True)
    if row is None:
        return None
    return ConnectionView(
        customer_id=row.customer_id,
        spec=ConnectionSpec.model_validate(row.spec),
        secrets_set=list(row.secrets_set),
        updated_at=row.updated_at,
    )


async def load_connection(
    *, session: AsyncSession, cipher: EnvelopeCipher | None, customer_id: str
) -> CustomerConnection | None:
    """The connection with its secrets opened, for a worker about to act; None when the customer has none."""
    row = await session.get(CustomerConnectionRow, customer_id, populate_existing=True)
    if row is None:
        return None
    opened = await _open(row, cipher) if row.ciphertext is not None else {}
    return CustomerConnection(
        customer_id=customer_id,
        spec=ConnectionSpec.model_validate(row.spec),
        secrets=ConnectionSecrets.model_validate(opened),
    )


async def delete_connection(*, session: AsyncSession, customer_id: str) -> bool:
    result = await session.execute(
        delete(CustomerConnectionRow).where(CustomerConnectionRow.customer_id == customer_id)
    )
    return bool(getattr(result, "rowcount", 0))


async def _open(row: CustomerConnectionRow, cipher: EnvelopeCipher | None) -> dict[str, str]:
    if cipher is None:
        raise SealError("connection secrets need OPTIINFRA_CONNECTION_KEY or OPTIINFRA_CONNECTION_KMS_KEY_ID")
    assert row.key_ref is not None and row.wrapped_key is not None and row.ciphertext is not None
    opened = json.loads(
        await cipher.unseal(
            Sealed(key_ref=row.key_ref, wrapped_key=row.wrapped_key, ciphertext=row.ciphertext)
        )
    )
    return {name: value for name, value in opened.items() if name in SECRET_NAMES}
