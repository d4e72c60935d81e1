"""The inference layer: answers a reasoning task from the rules or the cheapest model tier that fits it,
and on any failure from the rules, so a task always gets a valid answer and a usage record."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic

from pydantic import ValidationError

from agents.reasoning.breaker import CircuitBreaker
from agents.reasoning.cache import AnswerCache, cache_key
from agents.reasoning.routing import tier_for
from agents.reasoning.tasks import AnswerT, ReasoningTask
from optiinfra.llm.chat import ChatReply, LlmCallError
from optiinfra.llm.config import InferenceConfig, TierModel
from optiinfra.llm.tiers import InferenceTier
from optiinfra.llm.usage import LlmUsage


@dataclass(frozen=True)
class Inference(Generic[AnswerT]):
    answer: AnswerT
    usage: LlmUsage


class _Rejected(Exception):
    """A reply that arrived but cannot be used; the message is the usage record's reason."""


class InferenceLayer:
    """Holds per-tier circuit breakers and the answer cache, so one instance should serve a whole worker.

    The order for each task: rules that settle it; the routed tier's cached answer; the tenant's budget;
    the tier's breaker; one model call, validated. Anything short of a valid answer is a rule answer whose
    usage record says why (tokens a failed call was billed for are still counted)."""

    def __init__(
        self, config: InferenceConfig | None = None, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._config = config or InferenceConfig()
        self._cache = AnswerCache()
        self._breakers = {
            tier: CircuitBreaker(
                failure_threshold=self._config.breaker.failure_threshold,
                cooldown_seconds=self._config.breaker.cooldown_seconds,
                clock=clock,
            )
            for tier in self._config.tiers
        }

    async def answer(
        self, task: ReasoningTask[AnswerT], *, spent_this_month_usd: float
    ) -> Inference[AnswerT]:
        """`spent_this_month_usd` is the tenant's recorded model spend this calendar month."""
        settled = task.settled_by_rules()
        if settled is not None:
            return Inference(
                settled, LlmUsage(task=task.name, tier=InferenceTier.RULES, reason="settled by rules")
            )
        tier = tier_for(task.kind, self._config.tiers.keys())
        if tier is None:
            usage = LlmUsage(
                task=task.name,
                tier=InferenceTier.RULES,
                reason=f"no model tier configured for {task.kind} tasks",
            )
            return Inference(task.rule_answer(), usage)
        return await self._ask_model(task, tier, spent_this_month_usd)

    async def aclose(self) -> None:
        for tier_model in self._config.tiers.values():
            await tier_model.client.aclose()

    async def _ask_model(
        self, task: ReasoningTask[AnswerT], tier: InferenceTier, spent_this_month_usd: float
    ) -> Inference[AnswerT]:
        tier_model = self._config.tiers[tier]
        usage = LlmUsage(task=task.name, tier=tier, model=tier_model.client.model)
        messages = task.messages()
        key = cache_key(tier, tier_model.client.model, messages)
        cached = self._cache.get(key)
        if cached is not None:
            return Inference(_parse(task, cached, tier), usage.model_copy(update={"cached": True}))
        budget = self._config.monthly_budget_usd
        if spent_this_month_usd >= budget:
            return _fall_back(
                task, usage, f"monthly budget spent (${spent_this_month_usd:.2f} of ${budget:.2f})"
            )
        breaker = self._breakers[tier]
        if not breaker.try_acquire():
            return _fall_back(task, usage, f"circuit breaker open for the {tier} tier")
        try:
            reply = await tier_model.client.complete(messages)
        except LlmCallError as error:
            breaker.record_failure()
            return _fall_back(task, usage, f"{tier} tier call failed: {error}")
        usage = _billed(usage, reply, tier_model)
        try:
            answer = _parse(task, reply.text, tier)
        except _Rejected as rejection:
            breaker.record_failure()
            return _fall_back(task, usage, str(rejection))
        breaker.record_success()
        self._cache.put(key, reply.text)
        return Inference(answer, usage)


def _parse(task: ReasoningTask[AnswerT], text: str, tier: InferenceTier) -> AnswerT:
    try:
        answer = task.answer_model.model_validate_json(text)
    except ValidationError as error:
        if any(detail["type"] == "json_invalid" for detail in error.errors()):
            raise _Rejected(f"{tier} tier answer is not valid JSON") from error
        raise _Rejected(f"{tier} tier answer does not match the schema: {_first_problem(error)}") from error
    rejection = task.rejection(answer)
    if rejection is not None:
        raise _Rejected(f"{tier} tier answer rejected: {rejection}")
    return answer


def _first_problem(error: ValidationError) -> str:
    detail = error.errors()[0]
    location = ".".join(str(part) for part in detail["loc"]) or "answer"
    return f"{location}: {detail['msg']}"


def _billed(usage: LlmUsage, reply: ChatReply, tier_model: TierModel) -> LlmUsage:
    cost = tier_model.price.cost_usd(
        prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens
    )
    return usage.model_copy(
        update={
            "model": reply.model,
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "cost_usd": cost,
        }
    )


def _fall_back(task: ReasoningTask[AnswerT], usage: LlmUsage, reason: str) -> Inference[AnswerT]:
    return Inference(
        task.rule_answer(), usage.model_copy(update={"fell_back_to_rules": True, "reason": reason})
    )
