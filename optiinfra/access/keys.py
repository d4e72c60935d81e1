"""API key material: `oik_<key id>_<secret>`. Only the secret's SHA-256 is stored; the secret has 256 bits
of entropy, so a fast hash is enough (nothing to brute-force) and lookups stay cheap."""

import hashlib
import hmac
import secrets
from dataclasses import dataclass

KEY_PREFIX = "oik_"
KEY_ID_BYTES = 6


@dataclass(frozen=True)
class KeyMaterial:
    key_id: str
    secret_hash: str
    token: str


def new_key() -> KeyMaterial:
    key_id = secrets.token_hex(KEY_ID_BYTES)
    secret = secrets.token_urlsafe(32)
    return KeyMaterial(key_id=key_id, secret_hash=hash_secret(secret), token=f"{KEY_PREFIX}{key_id}_{secret}")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogateescape")).hexdigest()


def split_key(token: str) -> tuple[str, str] | None:
    """(key id, secret) of a token shaped like a key, else None."""
    if not token.startswith(KEY_PREFIX):
        return None
    key_id, sep, secret = token.removeprefix(KEY_PREFIX).partition("_")
    if not sep or len(key_id) != 2 * KEY_ID_BYTES or not secret:
        return None
    return key_id, secret


def secret_matches(secret: str, stored_hash: str) -> bool:
    return hmac.compare_digest(hash_secret(secret), stored_hash)


def same_token(given: str, expected: str) -> bool:
    """Constant-time comparison that any header value can go through (non-ASCII included)."""
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )
