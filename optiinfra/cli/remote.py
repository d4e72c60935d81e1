"""Reaching the control-plane API from a command: where it is (a running `optiinfra up`, else the configured
host and port), with which token, and its failures as one line."""

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

from optiinfra.cli.errors import fail

if TYPE_CHECKING:
    from optiinfra.cli.api_client import ApiClient

T = TypeVar("T")


def api_target() -> tuple[str, str]:
    """The API's base URL and the token to use with it."""
    from optiinfra.embedded.stack_file import read_stack_info
    from optiinfra.embedded.token import resolve_api_token
    from optiinfra.settings import Settings

    settings = Settings()
    info = read_stack_info(settings.state_dir)
    url = info.api_url if info else f"http://{settings.api_host}:{settings.api_port}"
    return url, resolve_api_token(settings)


def call_api(request: Callable[["ApiClient"], Awaitable[T]]) -> T:
    """Run `request` with a client of the API; an error answer or no answer is a one-line exit 1."""
    import httpx

    from optiinfra.cli.api_client import ApiClient, ApiError

    url, token = api_target()

    async def run() -> T:
        async with ApiClient(url, token) as client:
            return await request(client)

    try:
        return asyncio.run(run())
    except ApiError as error:
        raise fail(error) from None
    except httpx.ConnectError:
        raise fail(f"no API answers at {url}; start one with `optiinfra up`") from None
    except httpx.HTTPError as error:
        raise fail(f"the API at {url} did not answer: {error or type(error).__name__}") from None
