"""/docs needs nothing but the API: every URL its page names (attributes and its start-up script alike) is a
path on the API's own origin, and each answers 200 with the type a browser that is told `nosniff` insists
on. Swagger UI's files are those the console's build copies from the pinned npm package swagger-ui-dist;
the app is only built (no lifespan), as serving files needs neither the engine nor the store."""

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from api.app import create_app
from api.docs import DOCS_PATH, OAUTH2_REDIRECT_PATH, SWAGGER_CSS, SWAGGER_FAVICON, SWAGGER_JS, SWAGGER_PREFIX
from optiinfra.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
PORTAL = REPO_ROOT / "portal"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
QUOTED_PATH_OR_URL = re.compile(r"""["']((?:[a-z][a-z0-9+.-]*:)?/[^"'\s]*)["']""", re.IGNORECASE)
"""Every quoted string of the page that is a URL or a path: `/x`, `//host/x`, `https://host/x`."""
EXPECTED_TYPES = {
    f"{SWAGGER_PREFIX}/{SWAGGER_JS}": {"text/javascript", "application/javascript"},
    f"{SWAGGER_PREFIX}/{SWAGGER_CSS}": {"text/css"},
    f"{SWAGGER_PREFIX}/{SWAGGER_FAVICON}": {"image/png"},
    "/openapi.json": {"application/json"},
    OAUTH2_REDIRECT_PATH: {"text/html"},
}


@pytest.fixture
async def docs_api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """The API serving a console build that holds Swagger UI's three files, as `make portal` leaves it."""
    swagger = tmp_path / "dist" / "swagger"
    swagger.mkdir(parents=True)
    (tmp_path / "dist" / "index.html").write_text("<!doctype html><title>console</title>")
    (swagger / SWAGGER_JS).write_text("window.SwaggerUIBundle = function () {};")
    (swagger / SWAGGER_CSS).write_text(".swagger-ui { color: black }")
    (swagger / SWAGGER_FAVICON).write_bytes(PNG_SIGNATURE + b"\x00" * 16)
    app = create_app(Settings(portal_dir=tmp_path / "dist"))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as http:
        yield http


def _media_type(response: httpx.Response) -> str:
    return response.headers["content-type"].split(";")[0].strip().lower()


async def test_every_url_of_the_docs_page_is_on_the_api_and_answers_its_type(
    docs_api: httpx.AsyncClient,
) -> None:
    page = await docs_api.get(DOCS_PATH)
    assert page.status_code == 200
    assert _media_type(page) == "text/html"
    named = set(QUOTED_PATH_OR_URL.findall(page.text))
    # The page's own start-up script joins the redirect page's path to window.location.origin.
    assert "window.location.origin + '" + OAUTH2_REDIRECT_PATH + "'" in page.text
    off_origin = sorted(url for url in named if url.startswith("//") or "://" in url)
    assert not off_origin, f"/docs names URLs off the API's origin: {off_origin}"
    assert named == set(EXPECTED_TYPES), named
    for path, types in EXPECTED_TYPES.items():
        answer = await docs_api.get(path)
        assert answer.status_code == 200, path
        assert _media_type(answer) in types, (path, answer.headers["content-type"])
    assert page.headers["x-content-type-options"] == "nosniff"
    bundle = await docs_api.get(f"{SWAGGER_PREFIX}/{SWAGGER_JS}")
    assert bundle.headers["x-content-type-options"] == "nosniff"
    assert "SwaggerUIBundle" in bundle.text
    favicon = await docs_api.get(f"{SWAGGER_PREFIX}/{SWAGGER_FAVICON}")
    assert favicon.content.startswith(PNG_SIGNATURE)


async def test_the_docs_page_lets_the_browser_reach_only_its_origin(docs_api: httpx.AsyncClient) -> None:
    """Even a URL Swagger UI built at run time could not leave: the page's policy confines every fetch,
    script, style and image to the origin (and data: images)."""
    policy = (await docs_api.get(DOCS_PATH)).headers["content-security-policy"]
    directives = dict(
        (name, sources) for name, _, sources in (part.strip().partition(" ") for part in policy.split(";"))
    )
    assert directives["default-src"] == "'self'"
    assert directives["connect-src"] == "'self'"
    assert directives["img-src"] == "'self' data:"
    assert directives["style-src"].split()[0] == "'self'"
    assert all(
        source == "'self'" or source.startswith("'sha256-") for source in directives["script-src"].split()
    )
    assert "http" not in policy


async def test_no_redoc_page_that_would_need_a_cdn(docs_api: httpx.AsyncClient) -> None:
    redoc = await docs_api.get("/redoc")
    assert redoc.text == "<!doctype html><title>console</title>"  # the console's index, not ReDoc
    schema = (await docs_api.get("/openapi.json")).json()
    assert not any(path.startswith((DOCS_PATH, "/redoc", SWAGGER_PREFIX)) for path in schema["paths"])


def test_the_console_build_copies_exactly_the_files_the_docs_page_names() -> None:
    """The npm package is pinned to one version (in the manifest and its lock), and the build step that
    copies its files into the console's output copies the three the page asks for."""
    manifest = json.loads((PORTAL / "package.json").read_text())
    pinned = manifest["devDependencies"]["swagger-ui-dist"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", pinned), f"swagger-ui-dist is not pinned exactly: {pinned}"
    lock = json.loads((PORTAL / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/swagger-ui-dist"]["version"] == pinned
    assert "scripts/copy-swagger.mjs" in manifest["scripts"]["build"]
    script = (PORTAL / "scripts" / "copy-swagger.mjs").read_text()
    copied = re.search(r"for \(const name of \[([^\]]*)\]\)", script)
    assert copied is not None, "copy-swagger.mjs no longer lists the files it copies"
    assert sorted(re.findall(r'"([^"]+)"', copied.group(1))) == sorted(
        [SWAGGER_JS, SWAGGER_CSS, SWAGGER_FAVICON]
    )
    # Into the folder of the build that the API serves at the prefix the page names.
    assert f'"dist", "{SWAGGER_PREFIX.strip("/")}"' in script
