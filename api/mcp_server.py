"""Agents as users: the API's operations as MCP tools, over streamable HTTP at `/mcp`, so an engineer's own
assistant can read recommendations, approve or reject them, start optimizations and follow them.

Same keys, roles and tenants as the HTTP routes:
- Authentication: `McpEndpoint` reads the bearer credential as the routes do (`HTTPBearer`) and resolves it
  with `principal_from_token`, the code the routes' `authenticate` runs. No credential, or one that stands
  for nobody, is an HTTP 401 with `WWW-Authenticate: Bearer` before the MCP layer sees the request.
- The principal reaches the tools through a context variable the endpoint sets around the request; the MCP
  SDK runs each handler in the context of the request that carried its message.
- Authorization: each tool checks the role the matching route needs (`role_refusal`, the text of the routes'
  403) and then calls that route's handler, so the tenant checks, the audit and the answers are the
  route's own: another customer's recommendation is "no recommendation ...", exactly as a missing one. A
  refusal or an HTTP error of the handler is a tool error whose text is the error's detail.

The transport is stateless with JSON answers: every POST stands alone and is authenticated on its own, so
any replica of the API can answer it, and no session outlives the credential that opened it."""

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import HTTPException
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPBearer
from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPASGIApp
from mcp.server.transport_security import TransportSecuritySettings
from mcp.types import ToolAnnotations
from pydantic import Field, ValidationError
from pydantic_core import to_jsonable_python
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import HTTPConnection
from starlette.responses import JSONResponse
from starlette.types import Receive, Scope, Send
from temporalio.client import Client
from temporalio.service import RPCError

from api.deps import CredentialRefused, principal_from_token, role_refusal
from api.errors import UNAVAILABLE_CODES
from api.routes import optimizations, recommendations, reports
from api.schemas import IDENTIFIER, MAX_PAGE, DecisionBody, OptimizationCreate, PageParams
from optiinfra.access.principal import Principal, Role
from optiinfra.domain.enums import AgentKind, RecommendationStatus, RiskLevel
from optiinfra.metrics.reporting import ReportingMetrics
from optiinfra.settings import Settings

MCP_PATH = "/mcp"
T = TypeVar("T")


@dataclass(frozen=True)
class Caller:
    """Who calls a tool, and the app's engine client, store, metrics store and settings it acts through."""

    principal: Principal
    settings: Settings
    sessions: async_sessionmaker[AsyncSession]
    client: Client
    metrics: ReportingMetrics | None


_caller: ContextVar[Caller] = ContextVar("optiinfra_mcp_caller")


def _caller_with(role: Role) -> Caller:
    caller = _caller.get(None)
    if caller is None:  # only reachable when the server is served other than through McpEndpoint
        raise ToolError("not authenticated")
    refused = role_refusal(caller.principal, role)
    if refused is not None:
        raise ToolError(refused)
    return caller


async def _answer(call: Awaitable[Any]) -> dict[str, Any]:
    """The route handler's answer as JSON; its refusals, and a store or engine that is down, as tool errors
    that say why."""
    try:
        answer = await call
    except HTTPException as error:
        raise ToolError(str(error.detail)) from error
    except RequestValidationError as error:
        raise ToolError(_problems(error.errors())) from error
    except RPCError as error:
        if error.status in UNAVAILABLE_CODES:
            raise ToolError("the workflow engine is unreachable; retry shortly") from error
        raise ToolError(f"the workflow engine refused: {error}") from error
    except (DBAPIError, PoolTimeoutError, ConnectionError) as error:
        raise ToolError("the database or the workflow engine is unreachable; retry shortly") from error
    result: dict[str, Any] = to_jsonable_python(answer)
    return result


def _problems(errors: Sequence[Any]) -> str:
    """`field: what is wrong` for each error, the location's `query`/`body` prefix left out."""
    return "; ".join(
        f"{'.'.join(str(part) for part in e['loc'] if part not in ('query', 'body')) or 'input'}: {e['msg']}"
        for e in errors
    )


def _valid(build: Callable[[], T]) -> T:
    try:
        return build()
    except ValidationError as error:
        raise ToolError(_problems(error.errors())) from error


Identifier = Annotated[str, Field(pattern=IDENTIFIER, description="e.g. demo, code-assist")]
RecommendationId = Annotated[str, Field(min_length=1, max_length=255, description="The recommendation's id")]
Limit = Annotated[int, Field(ge=1, le=MAX_PAGE, description="Items per page")]
Offset = Annotated[int, Field(ge=0, le=2**31 - 1, description="Items to skip")]
Reason = Annotated[str, Field(min_length=1, max_length=2000, description="Why; kept in the audit log")]
Note = Annotated[
    str | None,
    Field(
        max_length=200, description="A display note beside the caller, e.g. the person behind a shared key"
    ),
]


# ---- the tools: each calls its HTTP route's handler, as the authenticated caller ----------------------


async def list_recommendations(
    status: RecommendationStatus | None = None,
    customer_id: Identifier | None = None,
    workload_id: Identifier | None = None,
    agent: AgentKind | None = None,
    risk_level: RiskLevel | None = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Recommendations, newest first, one page of them (`total` match the filters). A customer's caller
    sees its own customer's only. Use `status="pending_approval"` for those that wait for a decision."""
    caller = _caller_with(Role.VIEWER)
    return await _answer(
        recommendations.list_recommendations(
            sessions=caller.sessions,
            principal=caller.principal,
            paging=PageParams(limit=limit, offset=offset),
            status=status,
            customer_id=customer_id,
            workload_id=workload_id,
            agent=agent,
            risk_level=risk_level,
        )
    )


async def show_recommendation(recommendation_id: RecommendationId) -> dict[str, Any]:
    """One recommendation in full: its reasoning and evidence, its steps (each with the compensation that
    undoes it: what approving would change, and how it would be rolled back), the decision taken on it, the
    results of the steps that ran and the outcome."""
    caller = _caller_with(Role.VIEWER)
    return await _answer(
        recommendations.get_recommendation(
            recommendation_id, sessions=caller.sessions, principal=caller.principal
        )
    )


async def preview_recommendation(recommendation_id: RecommendationId) -> dict[str, Any]:
    """What approving would change, against the workload read now (by a worker, up to 30 s): each step's
    target now and after, whether it still fits (else approving runs no step: the recommendation is
    superseded) and the compensation that would undo it. Changes nothing."""
    caller = _caller_with(Role.VIEWER)
    return await _answer(
        recommendations.preview(
            recommendation_id,
            client=caller.client,
            sessions=caller.sessions,
            settings=caller.settings,
            principal=caller.principal,
        )
    )


async def _decide(
    recommendation_id: str,
    reason: str,
    note: str | None,
    route: Callable[..., Awaitable[Any]],
) -> dict[str, Any]:
    caller = _caller_with(Role.APPROVER)
    body = _valid(lambda: DecisionBody(reason=reason, approver=note))
    return await _answer(
        route(
            recommendation_id,
            body,
            principal=caller.principal,
            client=caller.client,
            sessions=caller.sessions,
        )
    )


async def approve_recommendation(
    recommendation_id: RecommendationId, reason: Reason, note: Note = None
) -> dict[str, Any]:
    """Approve a recommendation that waits for a decision, as the caller (who must be an approver). Its
    workflow then executes the steps. Exactly one decision wins: when another was taken first, the error
    names it (who, what, when)."""
    return await _decide(recommendation_id, reason, note, recommendations.approve)


async def reject_recommendation(
    recommendation_id: RecommendationId, reason: Reason, note: Note = None
) -> dict[str, Any]:
    """Reject a recommendation that waits for a decision, as the caller (who must be an approver); nothing
    changes on the fleet. When another decision was taken first, the error names it."""
    return await _decide(recommendation_id, reason, note, recommendations.reject)


async def start_optimization(
    customer_id: Identifier,
    workload_id: Identifier,
    agents: Annotated[
        list[AgentKind] | None, Field(description="The agents to run, each once; the cost agent if omitted")
    ] = None,
) -> dict[str, Any]:
    """Start one optimization run per agent on a workload (the caller must be an operator); audited. A run
    that finds a change waits for approval with a recommendation. Returns the runs' workflow ids."""
    caller = _caller_with(Role.OPERATOR)
    fields: dict[str, Any] = {"customer_id": customer_id, "workload_id": workload_id}
    if agents is not None:
        fields["agents"] = agents
    body = _valid(lambda: OptimizationCreate(**fields))
    return await _answer(
        optimizations.create_optimization(
            body,
            client=caller.client,
            sessions=caller.sessions,
            settings=caller.settings,
            principal=caller.principal,
        )
    )


async def list_optimizations(
    customer_id: Identifier | None = None,
    workload_id: Identifier | None = None,
    agent: Annotated[str | None, Field(pattern=optimizations.AGENT_FILTER)] = None,
    status: Annotated[
        str | None, Field(pattern=optimizations.PHASE_FILTER, description="e.g. pending_approval")
    ] = None,
    limit: Limit = 100,
    offset: Offset = 0,
) -> dict[str, Any]:
    """Optimization runs (agent and joint), newest first, one page of them; a customer's caller sees its
    own customer's only."""
    caller = _caller_with(Role.VIEWER)
    return await _answer(
        optimizations.list_optimizations(
            client=caller.client,
            principal=caller.principal,
            paging=PageParams(limit=limit, offset=offset),
            customer_id=customer_id,
            workload_id=workload_id,
            agent=agent,
            status=status,
        )
    )


async def get_optimization_status(
    workflow_id: Annotated[
        str, Field(min_length=1, max_length=255, description="e.g. opt/demo/chat-8b/cost/1")
    ],
) -> dict[str, Any]:
    """The live status of an optimization run: its phase, its recommendation, the decision and the
    results so far."""
    caller = _caller_with(Role.VIEWER)
    return await _answer(
        optimizations.get_optimization(workflow_id, client=caller.client, principal=caller.principal)
    )


Since = Annotated[
    reports.IsoDate | None,
    Field(description="First UTC day, e.g. 2026-11-01 (default: 30 days before until)"),
]
Until = Annotated[
    reports.IsoDate | None, Field(description="The UTC day after the last one (default: tomorrow)")
]


async def savings_report(
    since: Since = None,
    until: Until = None,
    customer_id: Identifier | None = None,
    workload_id: Identifier | None = None,
) -> dict[str, Any]:
    """Savings over whole UTC days [since, until): per workload and day, the estimated savings of the
    executed changes in effect and the savings measured from the workload's cost before and after each
    change, cost and GPU-hours. At most 366 days; a customer's caller sees its own customer's only."""
    caller = _caller_with(Role.VIEWER)
    return await _answer(
        reports.savings_report(
            sessions=caller.sessions,
            metrics=caller.metrics,
            principal=caller.principal,
            since=since,
            until=until,
            customer_id=customer_id,
            workload_id=workload_id,
        )
    )


async def slo_report(
    since: Since = None,
    until: Until = None,
    customer_id: Identifier | None = None,
    workload_id: Identifier | None = None,
) -> dict[str, Any]:
    """SLO attainment over whole UTC days [since, until): per workload and day, the share of collection
    windows that met the workload's latency objectives, and each breach with its start and end. At most 92
    days; a customer's caller sees its own customer's only."""
    caller = _caller_with(Role.VIEWER)
    return await _answer(
        reports.slo_report(
            sessions=caller.sessions,
            settings=caller.settings,
            metrics=caller.metrics,
            principal=caller.principal,
            since=since,
            until=until,
            customer_id=customer_id,
            workload_id=workload_id,
        )
    )


async def inference_cost_report(
    since: Since = None,
    until: Until = None,
    customer_id: Identifier | None = None,
    workload_id: Identifier | None = None,
) -> dict[str, Any]:
    """Inference cost over whole UTC days [since, until): per workload and model, $ per 1M tokens (blended,
    input, output), idle GPU cost and GPU-hours. At most 366 days; a customer's caller sees its own
    customer's only."""
    caller = _caller_with(Role.VIEWER)
    return await _answer(
        reports.inference_cost_report(
            sessions=caller.sessions,
            metrics=caller.metrics,
            principal=caller.principal,
            since=since,
            until=until,
            customer_id=customer_id,
            workload_id=workload_id,
        )
    )


READ = ToolAnnotations(read_only_hint=True, open_world_hint=False)
DECIDE = ToolAnnotations(
    read_only_hint=False, destructive_hint=True, idempotent_hint=False, open_world_hint=True
)
START = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
TOOLS: list[tuple[Callable[..., Awaitable[dict[str, Any]]], ToolAnnotations]] = [
    (list_recommendations, READ),
    (show_recommendation, READ),
    (preview_recommendation, READ),
    (approve_recommendation, DECIDE),
    (reject_recommendation, DECIDE),
    (start_optimization, START),
    (list_optimizations, READ),
    (get_optimization_status, READ),
    (savings_report, READ),
    (slo_report, READ),
    (inference_cost_report, READ),
]

INSTRUCTIONS = " ".join(
    [
        "OptiInfra cuts the cost of LLM inference fleets without breaking latency SLOs.",
        "Its agents propose recommendations; each waits for a person's decision before anything changes.",
        'List the ones waiting with list_recommendations(status="pending_approval"), read one with',
        "show_recommendation, see what it would change now with preview_recommendation, then approve or",
        "reject it with a reason. The reports tell the savings, SLO attainment and inference cost.",
        "You act as the credential you connected with: its role and customer decide what you may see and do.",
    ]
)


@contextmanager
def _root_logging_kept() -> Iterator[None]:
    """MCPServer configures the root logger when it is built (`logging.basicConfig` with its own handler);
    the API leaves logging to whoever hosts it."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)


def build_mcp_server() -> MCPServer:
    with _root_logging_kept():
        server = MCPServer("optiinfra", instructions=INSTRUCTIONS, version="0.1.0", log_level="WARNING")
    for tool, annotations in TOOLS:
        server.add_tool(tool, annotations=annotations)
    return server


def _refused(why: str) -> JSONResponse:
    return JSONResponse({"detail": why}, status_code=401, headers={"WWW-Authenticate": "Bearer"})


class McpEndpoint:
    """The ASGI endpoint at /mcp: authenticates the request, then hands it to the MCP transport with the
    caller set. Its session manager runs inside the app's lifespan (`running`)."""

    _bearer = HTTPBearer(auto_error=False)

    def __init__(self) -> None:
        self.server = build_mcp_server()
        # Stateless with JSON answers (see the module's doc). No Host/Origin allow-list: a page that rebinds
        # a name to this server still has no credential to send, and the API answers any host as well.
        self.server.streamable_http_app(
            streamable_http_path=MCP_PATH,
            stateless_http=True,
            json_response=True,
            transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
        )
        self._transport = StreamableHTTPASGIApp(self.server.session_manager)

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Runs the session manager in a task of its own: its task group must be left by the task that
        entered it, and a host may enter and leave the app's lifespan from different tasks."""
        started, stop = asyncio.Event(), asyncio.Event()

        async def serve() -> None:
            async with self.server.session_manager.run():
                started.set()
                await stop.wait()

        task = asyncio.create_task(serve(), name="mcp-session-manager")
        ready = asyncio.create_task(started.wait())
        await asyncio.wait({task, ready}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            ready.cancel()
            task.result()  # raises what stopped it
            raise RuntimeError("the MCP session manager stopped as it started")
        try:
            yield
        finally:
            stop.set()
            await task

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        connection = HTTPConnection(scope)
        state = connection.app.state
        credentials = await self._bearer(connection)
        try:
            principal = await principal_from_token(
                credentials.credentials if credentials else "",
                settings=state.settings,
                sessions=state.sessions,
                oidc=state.oidc,
            )
        except CredentialRefused as error:
            await _refused(str(error))(scope, receive, send)
            return
        caller = Caller(
            principal=principal,
            settings=state.settings,
            sessions=state.sessions,
            client=state.temporal,
            metrics=getattr(state, "metrics", None),  # the app opens one only for a ClickHouse server
        )
        token = _caller.set(caller)
        try:
            await self._transport(scope, receive, send)
        finally:
            _caller.reset(token)
