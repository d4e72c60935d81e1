"""A local OpenAI-compatible endpoint: a real HTTP server (uvicorn, FastAPI) on a free loopback port
serving POST /v1/chat/completions from a script of replies (answers, malformed JSON, schema-invalid
answers, 429 with Retry-After, 5xx, slow replies that time the client out) and POST /v1/embeddings with
deterministic vectors, recording every request body, so the inference layer is tested over the wire as it
runs against vLLM or OpenAI."""

import asyncio
import hashlib
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

START_TIMEOUT_SECONDS = 10.0


EMBEDDING_DIMENSIONS = 8


@dataclass(frozen=True)
class ScriptedReply:
    content: str = "{}"
    status: int = 200
    delay_seconds: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    headers: Mapping[str, str] = field(default_factory=dict)


def answer(content: str, *, prompt_tokens: int = 120, completion_tokens: int = 40) -> ScriptedReply:
    return ScriptedReply(content=content, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def malformed(
    content: str = '{"summary": "cut off mid-sentence',
    *,
    prompt_tokens: int = 120,
    completion_tokens: int = 40,
) -> ScriptedReply:
    """A reply whose text is not JSON (truncated, or prose around it): billed like any other."""
    return answer(content, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def schema_invalid(
    payload: Mapping[str, Any] | None = None, *, prompt_tokens: int = 120, completion_tokens: int = 40
) -> ScriptedReply:
    """Valid JSON that does not match the answer's schema (by default, none of its fields)."""
    body = {"unexpected": "field"} if payload is None else dict(payload)
    return answer(json.dumps(body), prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)


def server_error(status: int = 500) -> ScriptedReply:
    return ScriptedReply(status=status)


def rate_limited(retry_after_seconds: int = 7) -> ScriptedReply:
    return ScriptedReply(status=429, headers={"retry-after": str(retry_after_seconds)})


def slow(seconds: float, content: str = "{}") -> ScriptedReply:
    """Answers only after `seconds`: longer than the client's timeout, it is a timeout."""
    return ScriptedReply(content=content, delay_seconds=seconds, prompt_tokens=1, completion_tokens=1)


def stub_embedding(text: str) -> list[float]:
    """The stub's embedding of a text: deterministic, EMBEDDING_DIMENSIONS long, not normalised."""
    digest = hashlib.sha256(text.encode()).digest()
    return [byte / 255 for byte in digest[:EMBEDDING_DIMENSIONS]]


class OpenAIStub:
    """Replies in script order; once the script runs out its last reply repeats."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.requests: list[dict[str, Any]] = []
        self.authorizations: list[str] = []
        self.embedding_requests: list[dict[str, Any]] = []
        self._script: deque[ScriptedReply] = deque()
        self._last = server_error()
        self.app = FastAPI()
        self.app.add_api_route("/v1/chat/completions", self._complete, methods=["POST"])
        self.app.add_api_route("/v1/embeddings", self._embed, methods=["POST"])

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def script(self, *replies: ScriptedReply) -> None:
        self._script.extend(replies)

    def reset(self) -> None:
        """Forget every request and the script, as a stub just started would have none."""
        self.requests.clear()
        self.authorizations.clear()
        self.embedding_requests.clear()
        self._script.clear()
        self._last = server_error()

    async def _complete(self, request: Request) -> JSONResponse:
        body: dict[str, Any] = await request.json()
        self.requests.append(body)
        self.authorizations.append(request.headers.get("authorization", ""))
        reply = self._next_reply()
        if reply.delay_seconds:
            await asyncio.sleep(reply.delay_seconds)
        if reply.status != 200:
            return JSONResponse(
                {"error": {"message": "scripted failure", "type": "server_error"}},
                reply.status,
                headers=dict(reply.headers),
            )
        return JSONResponse(_completion(body, reply, number=len(self.requests)))

    async def _embed(self, request: Request) -> JSONResponse:
        body: dict[str, Any] = await request.json()
        self.embedding_requests.append(body)
        texts = [body["input"]] if isinstance(body["input"], str) else list(body["input"])
        # Listed out of order on purpose: clients must place vectors by their index.
        data = [
            {"object": "embedding", "index": index, "embedding": stub_embedding(text)}
            for index, text in reversed(list(enumerate(texts)))
        ]
        usage = {"prompt_tokens": len(texts), "total_tokens": len(texts)}
        return JSONResponse({"object": "list", "data": data, "model": body.get("model", ""), "usage": usage})

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


@pytest.fixture(scope="session")
def openai_stub_server() -> Iterator[OpenAIStub]:
    """One live stub per session (per xdist worker): starting a server per test cost more than most of the
    tests that use it."""
    with serving_openai_stub() as stub:
        yield stub


@pytest.fixture
def openai_stub(openai_stub_server: OpenAIStub) -> OpenAIStub:
    """The session's stub with nothing of an earlier test: no request recorded, no reply scripted."""
    openai_stub_server.reset()
    return openai_stub_server
