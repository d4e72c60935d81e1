"""The web console served at /, and Swagger UI at /docs, from a build folder the test writes: the app is
only built (no lifespan), as serving files needs neither the engine nor the store."""

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from api.app import create_app
from api.portal import IMMUTABLE, REVALIDATE
from optiinfra.settings import Settings

INDEX = "<!doctype html><title>OptiInfra</title><div id=root></div>"
SCRIPT = "console.log('console');"


def _build(root: Path) -> Path:
    dist = root / "dist"
    (dist / "assets").mkdir(parents=True)
    (dist / "swagger").mkdir()
    (dist / "index.html").write_text(INDEX)
    (dist / "assets" / "index-3f9a01c2.js").write_text(SCRIPT)
    (dist / "assets" / "index-3f9a01c2.css").write_text("body{margin:0}")
    (dist / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (dist / "swagger" / "swagger-ui-bundle.js").write_text("window.SwaggerUIBundle = () => {};")
    (dist / "swagger" / "swagger-ui.css").write_text(".swagger-ui{}")
    (root / "secret.txt").write_text("outside the build")
    return dist


def _app(portal_dir: Path) -> FastAPI:
    return create_app(Settings(portal_dir=portal_dir))


@pytest.fixture
async def portal(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    app = _app(_build(tmp_path))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as http:
        yield http


def _is_index(response: httpx.Response) -> bool:
    return response.status_code == 200 and response.text == INDEX


async def test_pages_of_the_console_answer_its_index(portal: httpx.AsyncClient) -> None:
    for path in ("/", "/recommendations/x", "/workloads", "/auth/callback?code=abc&state=s", "/redoc"):
        response = await portal.get(path)
        assert _is_index(response), path
        assert response.headers["content-type"].startswith("text/html")
        assert response.headers["cache-control"] == REVALIDATE


async def test_assets_are_served_as_they_are_with_long_caching(portal: httpx.AsyncClient) -> None:
    script = await portal.get("/assets/index-3f9a01c2.js")
    assert (script.status_code, script.text) == (200, SCRIPT)
    assert script.headers["content-type"].split(";")[0] in {"text/javascript", "application/javascript"}
    assert script.headers["cache-control"] == IMMUTABLE
    style = await portal.get("/assets/index-3f9a01c2.css")
    assert style.headers["content-type"].startswith("text/css")
    icon = await portal.get("/favicon.svg")
    assert (icon.headers["content-type"], icon.headers["cache-control"]) == ("image/svg+xml", REVALIDATE)
    again = await portal.get("/assets/index-3f9a01c2.js", headers={"If-None-Match": script.headers["etag"]})
    assert again.status_code == 304
    # An asset that is not there is a page of the app, not a file: the index, never a build's other file.
    assert _is_index(await portal.get("/assets/missing.js"))


async def test_every_console_answer_carries_a_strict_policy(portal: httpx.AsyncClient) -> None:
    for path in ("/", "/recommendations/x", "/assets/index-3f9a01c2.js"):
        headers = (await portal.get(path)).headers
        policy = dict(
            part.strip().split(" ", 1)
            for part in headers["content-security-policy"].split(";")
            if part.strip()
        )
        assert policy["default-src"] == "'self'"
        assert policy["script-src"] == "'self'"
        assert "unsafe" not in headers["content-security-policy"]
        assert policy["frame-ancestors"] == "'none'"
        assert policy["img-src"] == "'self' data:"
        assert policy["connect-src"].startswith("'self'")
        assert headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "raw_path",
    [
        "/..%2f..%2fetc/passwd",
        "/..%2fsecret.txt",
        "/assets/..%2f..%2fsecret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/%2e%2e/secret.txt",
        "/assets/..%5c..%5csecret.txt",
        "/.%2e/secret.txt",
        "/%00",
    ],
)
async def test_no_path_leaves_the_build(portal: httpx.AsyncClient, raw_path: str) -> None:
    # httpx would resolve dot segments itself: the raw path goes out as written.
    request = portal.build_request("GET", "/")
    request.url = request.url.copy_with(raw_path=raw_path.encode())
    response = await portal.send(request)
    assert "outside the build" not in response.text
    assert "root:" not in response.text
    assert response.status_code == 404 or _is_index(response), (response.status_code, response.text[:200])


async def test_dot_segments_resolved_by_the_client_stay_inside(portal: httpx.AsyncClient) -> None:
    response = await portal.get("/assets/../../secret.txt")
    assert "outside the build" not in response.text


async def test_the_apis_paths_stay_the_apis(portal: httpx.AsyncClient) -> None:
    unknown = await portal.get("/v1/nope")
    assert (unknown.status_code, unknown.json()) == (404, {"detail": "Not Found"})
    assert (await portal.get("/v1")).status_code == 404
    assert (await portal.post("/recommendations/x")).status_code == 404
    # A wrong method on an API route is still a 405, not a page of the console.
    assert (await portal.put("/v1/session")).status_code == 405
    assert (await portal.post("/healthz")).status_code == 405
    assert (await portal.get("/swagger/missing.js")).status_code == 404
    assert (await portal.get("/openapi.json")).json()["info"]["title"] == "OptiInfra"


async def test_without_a_build_the_console_says_how_to_make_one(tmp_path: Path) -> None:
    app = _app(tmp_path / "never-built")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api.test") as http:
        for path in ("/", "/recommendations/x"):
            response = await http.get(path)
            assert response.status_code == 503
            assert "make portal" in response.text and response.text.count("\n") == 1
        assert "make portal" in (await http.get("/docs")).text
        assert (await http.get("/v1/nope")).status_code == 404


async def test_swagger_ui_loads_nothing_from_elsewhere(portal: httpx.AsyncClient) -> None:
    docs = await portal.get("/docs")
    assert docs.status_code == 200
    assert not re.search(r"https?://", docs.text)
    sources = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert sorted(sources) == [
        "/swagger/favicon-32x32.png",
        "/swagger/swagger-ui-bundle.js",
        "/swagger/swagger-ui.css",
    ]
    policy = docs.headers["content-security-policy"]
    assert "script-src 'self' 'sha256-" in policy and "frame-ancestors 'none'" in policy
    bundle = await portal.get("/swagger/swagger-ui-bundle.js")
    assert bundle.status_code == 200 and "SwaggerUIBundle" in bundle.text
    assert (await portal.get("/redoc")).text == INDEX  # no ReDoc: a page of the console
    assert (await portal.get("/docs/oauth2-redirect")).status_code == 200
