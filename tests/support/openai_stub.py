"""A local OpenAI-compatible chat endpoint: a real HTTP server (uvicorn, FastAPI) on a free loopback port
serving POST /v1/chat/completions from a script of replies, and recording every request body, so the
inference layer is tested over the wire as it runs against vLLM or OpenAI."""

import asyncio
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

START_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class ScriptedReply:
    content: str = "{}"
    status: int = 200
    delay_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0


def answer(content: str, *, prompt_tokens: int = 120, completion_tokens: int = 40) -> ScriptedReply:
    return ScriptedReply(content=content, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def server_error(status: int = 500) -> ScriptedReply:
    return ScriptedReply(status=status)


def slow(seconds: float, content: str = "{}") -> ScriptedReply:
    return ScriptedReply(content=content, delay_seconds=seconds, prompt_tokens=1, completion_tokens=1)


class OpenAIStub:
    """Replies in script order; once the script runs out its last reply repeats."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        self._script: deque[ScriptedReply] = deque()
        self._last = server_error()
        self.app = FastAPI()
        self.app.add_api_route("/v1/chat/completions", self._complete, methods=["POST"])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: ScriptedReply) -> None:
        self._script.extend(replies)

    async def _complete(self, request: Request) -> JSONResponse:
        body: dict[str, Any] = await request.json()
        self.requests.append(body)
        self.authorizations.append(request.headers.get("authorization", ""))
        reply = self._next_reply()
        if reply.delay_seconds:
            await asyncio.sleep(reply.delay_seconds)
        if reply.status != 200:
            return JSONResponse(
                {"error": {"message": "scripted failure", "type": "server_error"}}, reply.status
            )
        return JSONResponse(_completion(body, reply, number=len(self.requests)))

    def _next_reply(self) -> ScriptedReply:
        if self._script:
            self._last = self._script.popleft()
        return self._last


def _completion(body: dict[str, Any], reply: ScriptedReply, *, number: int) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-stub-{number}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": body.get("model", ""),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.content},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "total_tokens": reply.prompt_tokens + reply.completion_tokens,
        },
    }


@contextmanager
def serving_openai_stub() -> Iterator[OpenAIStub]:
    """The stub, listening until the block ends. It runs on its own thread and event loop, so a test's
    client and a deliberately slow reply never share a loop."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    stub = OpenAIStub(listener.getsockname()[1])
    server = uvicorn.Server(uvicorn.Config(stub.app, log_level="warning", access_log=False, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listener]}, daemon=True)
    thread.start()
    try:
        _wait_until_started(server, thread)
        yield stub
    finally:
        # Slow replies may still be sleeping: do not wait for them.
        server.should_exit = server.force_exit = True
        thread.join(timeout=5)
        listener.close()


def _wait_until_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the OpenAI stub did not start")
        time.sleep(0.01)


@pytest.fixture
def openai_stub() -> Iterator[OpenAIStub]:
    """A live stub per test."""
    with serving_openai_stub() as stub:
        yield stub
