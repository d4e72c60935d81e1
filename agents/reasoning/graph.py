"""How one model tier answers a task, as a LangGraph state graph run inside the calling activity:

    draft -> validate -> done
                      -> repair -> validate ...   (at most MAX_REPAIRS times)
                      -> fallback (the rule tier's answer)

Every call first asks the daily budget whether it fits and the tier's circuit breaker whether it may go
out; a refusal, a failed call or a last invalid answer ends in the fallback. A repair sends the task's
messages, the rejected answer and what was wrong with it, and asks for a corrected JSON object. Every
reply is billed to the answer, rejected or not. The breaker hears of every call: a failed call or an
invalid answer counts against the endpoint, a valid answer clears it."""

import json
from dataclasses import dataclass
from typing import Any, Literal, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.runtime import Runtime
from pydantic import BaseModel

from agents.reasoning.breaker import CircuitBreaker
from agents.reasoning.budget import CallAllowance
from agents.reasoning.tasks import ReasoningTask
from agents.reasoning.validation import InvalidAnswer, validated_answer
from optiinfra.llm.chat import ChatMessage, LlmCallError
from optiinfra.llm.config import TierModel
from optiinfra.llm.tiers import InferenceTier

MAX_REPAIRS = 2

REPAIR_PROMPT = (
    "Your answer {problem}. Reply with one corrected JSON object, and nothing else, that answers the "
    "request above and matches this JSON schema: {schema}"
)


@dataclass(frozen=True)
class ReasoningRun:
    """What one run of the graph is about; the graph itself is compiled once and shared."""

    task: ReasoningTask[Any]
    tier: InferenceTier
    tier_model: TierModel
    breaker: CircuitBreaker
    allowance: CallAllowance


class ReasoningState(TypedDict):
    messages: list[ChatMessage]
    text: str
    problem: str
    answer: BaseModel | None
    model: str
    calls: int
    repairs: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    stopped: str
    fell_back: bool
    reason: str


ReasoningGraph = CompiledStateGraph[ReasoningState, ReasoningRun, ReasoningState, ReasoningState]


def initial_state(messages: list[ChatMessage], model: str) -> ReasoningState:
    return ReasoningState(
        messages=messages,
        text="",
        problem="",
        answer=None,
        model=model,
        calls=0,
        repairs=0,
        prompt_tokens=0,
        completion_tokens=0,
        cost_usd=0.0,
        stopped="",
        fell_back=False,
        reason="",
    )


def build_reasoning_graph() -> ReasoningGraph:
    graph = StateGraph(ReasoningState, context_schema=ReasoningRun)
    graph.add_node("draft", _draft)
    graph.add_node("validate", _validate)
    graph.add_node("repair", _repair)
    graph.add_node("fallback", _fallback)
    graph.add_edge(START, "draft")
    graph.add_conditional_edges("draft", _after_call, ["validate", "fallback"])
    graph.add_conditional_edges("validate", _after_validation, ["repair", "fallback", END])
    graph.add_conditional_edges("repair", _after_call, ["validate", "fallback"])
    graph.add_edge("fallback", END)
    return graph.compile(name="reasoning")


# Nodes


async def _draft(state: ReasoningState, runtime: Runtime[ReasoningRun]) -> dict[str, Any]:
    return await _call(state, runtime.context, state["messages"], repair=False)


async def _repair(state: ReasoningState, runtime: Runtime[ReasoningRun]) -> dict[str, Any]:
    schema = runtime.context.task.answer_model.model_json_schema()
    correction = REPAIR_PROMPT.format(problem=state["problem"], schema=_compact_json(schema))
    messages = [
        *state["messages"],
        ChatMessage(role="assistant", content=state["text"]),
        ChatMessage(role="user", content=correction),
    ]
    return await _call(state, runtime.context, messages, repair=True)


async def _validate(state: ReasoningState, runtime: Runtime[ReasoningRun]) -> dict[str, Any]:
    run = runtime.context
    try:
        answer = validated_answer(run.task, state["text"])
    except InvalidAnswer as invalid:
        run.breaker.record_failure()
        return {"problem": str(invalid), "answer": None}
    run.breaker.record_success()
    return {"problem": "", "answer": answer}


async def _fallback(state: ReasoningState, runtime: Runtime[ReasoningRun]) -> dict[str, Any]:
    run = runtime.context
    reasons = []
    if state["problem"]:
        invalid = f"{run.tier} tier answer {state['problem']}"
        repairs = state["repairs"]
        if repairs:
            invalid += f" (after {repairs} repair{'s' if repairs != 1 else ''})"
        reasons.append(invalid)
    if state["stopped"]:
        reasons.append(state["stopped"])
    return {"answer": run.task.rule_answer(), "fell_back": True, "reason": "; ".join(reasons)}


async def _call(
    state: ReasoningState, run: ReasoningRun, messages: list[ChatMessage], *, repair: bool
) -> dict[str, Any]:
    refusal = run.allowance.refusal(messages, billed_usd=state["cost_usd"])
    if refusal is not None:
        return {"stopped": refusal}
    if not run.breaker.try_acquire():
        return {"stopped": f"circuit breaker open for the {run.tier} tier"}
    counted = {"calls": state["calls"] + 1, "repairs": state["repairs"] + int(repair)}
    try:
        reply = await run.tier_model.client.complete(messages, max_tokens=run.allowance.max_completion_tokens)
    except LlmCallError as error:
        run.breaker.record_failure()
        return {**counted, "stopped": f"{run.tier} tier call failed: {error}"}
    cost = run.tier_model.price.cost_usd(
        prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens
    )
    return {
        **counted,
        "text": reply.text,
        "model": reply.model,
        "prompt_tokens": state["prompt_tokens"] + reply.prompt_tokens,
        "completion_tokens": state["completion_tokens"] + reply.completion_tokens,
        "cost_usd": state["cost_usd"] + cost,
    }


# Edges


def _after_call(state: ReasoningState) -> Literal["validate", "fallback"]:
    return "fallback" if state["stopped"] else "validate"


def _after_validation(state: ReasoningState) -> str:
    if state["answer"] is not None:
        return END
    return "repair" if state["repairs"] < MAX_REPAIRS else "fallback"


def _compact_json(value: object) -> str:
    return json.dumps(value, separators=(",", ":"), sort_keys=True)
