"""No request ends in a 500 for what it sent or for a part that is down.

- Bodies are parsed strictly: NaN, Infinity, numbers that overflow a float and integers beyond 64 bits are
  a 422 (`json_invalid`), before any model sees them.
- A 422 body never echoes a value JSON cannot carry.
- The workflow engine or the database unreachable is a 503 with `Retry-After`.
- `ERROR_RESPONSES` declares these answers in the OpenAPI document."""

import json
import math
from collections.abc import Callable, Coroutine
from typing import Any, NoReturn

from fastapi import FastAPI, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match
from temporalio.service import RPCError, RPCStatusCode

INT64_MAX = 2**63 - 1
RETRY_AFTER_S = 5
# Engine answers that mean "not reachable now" rather than "this request is wrong".
UNAVAILABLE_CODES = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.CANCELLED}


class ErrorBody(BaseModel):
    detail: str


def _documented(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    status.HTTP_503_SERVICE_UNAVAILABLE: _documented(
        "The workflow engine or the database is unreachable; retry after `Retry-After` seconds"
    ),
}
"""What a route that needs no credential may answer beside its own statuses."""
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status.HTTP_401_UNAUTHORIZED: _documented("Missing, malformed, unknown, revoked or expired credential"),
    status.HTTP_403_FORBIDDEN: _documented("The principal's role or customer does not allow this"),
    **UNAVAILABLE,
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    status.HTTP_404_NOT_FOUND: _documented("No such item (or not the caller's customer's)")
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    status.HTTP_409_CONFLICT: _documented("The item's state does not allow this now")
}


def _refuse_constant(name: str) -> NoReturn:
    raise json.JSONDecodeError(f"{name} is not a JSON number; send a finite number", name, 0)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise json.JSONDecodeError(f"{text} overflows a 64-bit float", text, 0)
    return value


def _bounded_int(text: str) -> int:
    if len(text) > 20 or abs(value := int(text)) > INT64_MAX:
        raise json.JSONDecodeError(f"{text[:40]} is beyond a 64-bit integer", text, 0)
    return value


def strict_loads(body: bytes) -> Any:
    try:
        return json.loads(
            body, parse_constant=_refuse_constant, parse_float=_finite_float, parse_int=_bounded_int
        )
    except UnicodeDecodeError as error:
        raise json.JSONDecodeError("the body is not UTF-8", "", 0) from error
    except RecursionError as error:
        raise json.JSONDecodeError("the body nests too deeply", "", 0) from error


class _StrictJSONRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_loads(await self.body())
        return self._json


class StrictJSONRoute(APIRoute):
    """A route whose JSON body goes through `strict_loads` (FastAPI turns its JSONDecodeError into 422)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(_StrictJSONRequest(request.scope, request.receive))

        return strict_handler


def json_safe(value: Any) -> Any:
    """`value` with every float JSON cannot write and every unknown object turned into its text."""
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str | int | bool) or value is None:
        return value
    if isinstance(value, dict):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [json_safe(item) for item in value]
    return str(value)


async def _validation_failed(request: Request, error: Exception) -> Response:
    assert isinstance(error, RequestValidationError)
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": json_safe(error.errors())}
    )


def _unavailable(what: str) -> Response:
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": f"{what} is unreachable; retry shortly"},
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


async def _engine_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, RPCError)
    if error.status in UNAVAILABLE_CODES:
        return _unavailable("the workflow engine")
    return JSONResponse(
        status_code=status.HTTP_502_BAD_GATEWAY, content={"detail": f"the workflow engine refused: {error}"}
    )


async def _database_error(request: Request, error: Exception) -> Response:
    if (
        isinstance(error, DBAPIError)
        and not isinstance(error, OperationalError)
        and not error.connection_invalidated
    ):
        raise error
    return _unavailable("the database")


async def _connection_error(request: Request, error: Exception) -> Response:
    return _unavailable("the database or the workflow engine")


async def _http_error(request: Request, error: Exception) -> Response:
    """Starlette's own answer, except that a 405 lists every method the path has: FastAPI makes one route
    per method, and Starlette's 405 names only the first route that matched the path."""
    assert isinstance(error, StarletteHTTPException)
    headers = dict(error.headers or {})
    if error.status_code == status.HTTP_405_METHOD_NOT_ALLOWED:
        headers["Allow"] = ", ".join(sorted(_methods_of(request)))
    return JSONResponse({"detail": error.detail}, status_code=error.status_code, headers=headers)


HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _methods_of(request: Request) -> set[str]:
    """The methods some route takes at the request's path, asked of the routes themselves: FastAPI keeps
    an included router as one route of its own, whose routes are not in the app's list."""
    return {
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL
            for route in request.app.router.routes
        )
    }


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_failed)
    app.add_exception_handler(RPCError, _engine_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(PoolTimeoutError, _database_error)
    app.add_exception_handler(ConnectionError, _connection_error)
