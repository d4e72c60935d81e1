"""The Fernet key from settings: a missing or malformed key is refused by name, never echoed."""

import pytest
from cryptography.fernet import Fernet
from pydantic import SecretStr

from optiinfra.privacy.crypto import KEY_SETTING, PromptCipher
from optiinfra.privacy.errors import EncryptionKeyError
from optiinfra.settings import Settings


def test_the_key_is_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    key = Fernet.generate_key().decode()
    monkeypatch.setenv(KEY_SETTING, key)
    cipher = PromptCipher.from_settings(Settings())
    token = cipher.encrypt(b"hello")
    assert Fernet(key.encode()).decrypt(token) == b"hello"
    assert cipher.decrypt(token) == b"hello"


def test_without_a_key_tier_3_storage_is_refused() -> None:
    with pytest.raises(EncryptionKeyError, match=f"needs {KEY_SETTING}, which is not set"):
        PromptCipher.from_settings(Settings(prompt_encryption_key=None))


TRUNCATED_KEY = "kaf7lqdzoPfxiJ1_VgyqnVvHfNQajy6uf_b_JovZ"
"""A Fernet key with its last four characters cut (fixed, so every test worker collects the same ids)."""


@pytest.mark.parametrize("bad_key", ["not-a-key-at-all", "c2hvcnQ=", TRUNCATED_KEY])
def test_a_malformed_key_is_named_and_not_echoed(bad_key: str) -> None:
    with pytest.raises(EncryptionKeyError, match=f"{KEY_SETTING} is not a Fernet key") as raised:
        PromptCipher(SecretStr(bad_key))
    assert bad_key not in str(raised.value)
    assert raised.value.__cause__ is None


def test_another_key_cannot_decrypt() -> None:
    token = PromptCipher(SecretStr(Fernet.generate_key().decode())).encrypt(b"secret")
    other = PromptCipher(SecretStr(Fernet.generate_key().decode()))
    with pytest.raises(EncryptionKeyError, match="encrypted with another key, or altered"):
        other.decrypt(token)


def test_the_cipher_never_shows_its_key() -> None:
    key = Fernet.generate_key().decode()
    cipher = PromptCipher(SecretStr(key))
    assert key not in repr(cipher)
    assert key not in str(cipher)
    assert not hasattr(cipher, "__dict__")
