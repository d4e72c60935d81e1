"""The API bearer token: from settings, or generated once and kept in the state dir (mode 0600)."""

import secrets
from pathlib import Path

from optiinfra.settings import Settings

TOKEN_FILE = "api_token"


def resolve_api_token(settings: Settings) -> str:
    if settings.api_token is not None:
        return settings.api_token.get_secret_value()
    path = settings.state_dir / TOKEN_FILE
    if path.exists():
        return path.read_text().strip()
    token = secrets.token_urlsafe(32)
    _write_private(path, token)
    return token


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(text + "\n")
