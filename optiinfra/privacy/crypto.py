"""Encryption at rest of tier-3 prompt content: Fernet (AES-128-CBC, HMAC-SHA256, timestamped tokens) under
the key in OPTIINFRA_PROMPT_ENCRYPTION_KEY. Only a `PromptCipher` can turn stored content back into text,
and only a tier-3 view or the tier-3 writer is ever given one."""

from cryptography.fernet import Fernet, InvalidToken
from pydantic import SecretStr

from optiinfra.privacy.errors import EncryptionKeyError
from optiinfra.settings import Settings

KEY_SETTING = "OPTIINFRA_PROMPT_ENCRYPTION_KEY"


class PromptCipher:
    """Encrypts and decrypts bytes with the configured Fernet key. Its repr never shows the key."""

    __slots__ = ("_fernet",)

    def __init__(self, key: SecretStr) -> None:
        try:
            self._fernet = Fernet(key.get_secret_value())
        except ValueError:  # binascii.Error is a ValueError; the message never quotes the key
            raise EncryptionKeyError(
                f"{KEY_SETTING} is not a Fernet key (32 url-safe base64-encoded bytes, as made by "
                "cryptography.fernet.Fernet.generate_key())"
            ) from None

    @classmethod
    def from_settings(cls, settings: Settings) -> "PromptCipher":
        if settings.prompt_encryption_key is None:
            raise EncryptionKeyError(f"tier-3 prompt storage needs {KEY_SETTING}, which is not set")
        return cls(settings.prompt_encryption_key)

    def encrypt(self, plaintext: bytes) -> bytes:
        return self._fernet.encrypt(plaintext)

    def decrypt(self, token: bytes) -> bytes:
        try:
            return self._fernet.decrypt(token)
        except InvalidToken:
            raise EncryptionKeyError(
                f"stored prompt content cannot be decrypted with {KEY_SETTING}: it was encrypted with "
                "another key, or altered"
            ) from None

    def __repr__(self) -> str:
        return "PromptCipher(key=<hidden>)"
