"""Envelope encryption of connection secrets: each sealed value gets its own data key (Fernet); the data
key is stored wrapped by the master key - a Fernet key from settings, or a KMS key - and the master key
never leaves its holder. Rotating the master key rewraps data keys; nothing else needs re-encrypting."""

import asyncio
from typing import Any, Protocol

from cryptography.fernet import Fernet, InvalidToken
from pydantic import BaseModel, SecretStr


class SealError(ValueError):
    """No usable master key, or a sealed value that this key cannot open (another key, or altered)."""


class Sealed(BaseModel):
    """What the store keeps: the wrapped data key, which master key wrapped it, and the ciphertext."""

    key_ref: str
    wrapped_key: bytes
    ciphertext: bytes


class MasterKey(Protocol):
    ref: str

    async def wrap(self, data_key: bytes) -> bytes: ...

    async def unwrap(self, wrapped: bytes) -> bytes: ...


class FernetMasterKey:
    """A master key held in settings (OPTIINFRA_CONNECTION_KEY)."""

    ref = "settings"

    def __init__(self, key: SecretStr) -> None:
        try:
            self._fernet = Fernet(key.get_secret_value())
        except ValueError:
            raise SealError("OPTIINFRA_CONNECTION_KEY is not a Fernet key (Fernet.generate_key())") from None

    async def wrap(self, data_key: bytes) -> bytes:
        return self._fernet.encrypt(data_key)

    async def unwrap(self, wrapped: bytes) -> bytes:
        try:
            return self._fernet.decrypt(wrapped)
        except InvalidToken:
            raise SealError("a connection secret was sealed under another master key, or altered") from None


class KmsMasterKey:
    """A KMS key (OPTIINFRA_CONNECTION_KMS_KEY_ID): data keys are wrapped and unwrapped by KMS itself."""

    def __init__(self, kms: Any, key_id: str) -> None:
        """`kms`: a boto3 KMS client (the store's region and credentials)."""
        self._kms = kms
        self._key_id = key_id
        self.ref = f"kms:{key_id}"

    async def wrap(self, data_key: bytes) -> bytes:
        answer = await asyncio.to_thread(self._kms.encrypt, KeyId=self._key_id, Plaintext=data_key)
        blob = answer["CiphertextBlob"]
        assert isinstance(blob, bytes)
        return blob

    async def unwrap(self, wrapped: bytes) -> bytes:
        answer = await asyncio.to_thread(self._kms.decrypt, KeyId=self._key_id, CiphertextBlob=wrapped)
        plain = answer["Plaintext"]
        assert isinstance(plain, bytes)
        return plain


class EnvelopeCipher:
    def __init__(self, master: MasterKey) -> None:
        self._master = master

    async def seal(self, plaintext: bytes) -> Sealed:
        data_key = Fernet.generate_key()
        return Sealed(
            key_ref=self._master.ref,
            wrapped_key=await self._master.wrap(data_key),
            ciphertext=Fernet(data_key).encrypt(plaintext),
        )

    async def unseal(self, sealed: Sealed) -> bytes:
        if sealed.key_ref != self._master.ref:
            raise SealError(f"a connection secret was sealed under {sealed.key_ref}, not {self._master.ref}")
        data_key = await self._master.unwrap(sealed.wrapped_key)
        try:
            return Fernet(data_key).decrypt(sealed.ciphertext)
        except InvalidToken:
            raise SealError("a sealed connection secret was altered") from None

    def __repr__(self) -> str:
        return f"EnvelopeCipher(master={self._master.ref})"
