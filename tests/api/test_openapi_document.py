"""The OpenAPI document committed for the web console (portal/openapi.json, from which its TypeScript types
are generated) is the app's own: a route or model changed without regenerating it fails here."""

from pathlib import Path

from api.openapi_export import openapi_text

COMMITTED = Path(__file__).resolve().parents[2] / "portal" / "openapi.json"
REGENERATE = (
    "portal/openapi.json is not the API's document: run `python -m api.openapi_export portal/openapi.json` "
    "then `npm --prefix portal run gen:api`"
)


def test_the_committed_document_is_the_apis() -> None:
    assert COMMITTED.is_file(), REGENERATE
    assert COMMITTED.read_text(encoding="utf-8") == openapi_text(), REGENERATE
