"""`python -m api.openapi_export PATH`: write the API's OpenAPI document to PATH, as the web console's
TypeScript types are generated from it (`npm --prefix portal run gen:api`). The app is only built, never
started: no engine, store or metrics store is reached."""

import json
import sys
from pathlib import Path
from typing import Any

from api.app import create_app
from optiinfra.settings import Settings


def openapi_document() -> dict[str, Any]:
    return create_app(Settings()).openapi()


def openapi_text() -> str:
    """Stable text: keys sorted, two-space indents, a final newline (so a diff shows only real changes)."""
    return json.dumps(openapi_document(), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m api.openapi_export PATH", file=sys.stderr)
        return 2
    target = Path(argv[0])
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(openapi_text(), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
