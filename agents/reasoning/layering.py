"""The inference layer: answers a reasoning task from the rules or the cheapest model tier that fits it,
and on any failure from the rules, so a task always gets a valid answer and a usage record."""

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, cast

from agents.reasoning.breaker import BreakerState, CircuitBreaker
from agents.reasoning.budget import CallAllowance, choose_tier
from agents.reasoning.cache import AnswerCache, cache_key
from agents.reasoning.graph import ReasoningRun, ReasoningState, build_reasoning_graph, initial_state
from agents.reasoning.routing import tier_for
from agents.reasoning.semantic_cache import SemanticCache, SemanticKey
from agents.reasoning.tasks import AnswerT, ReasoningTask
from agents.reasoning.tenant import Tenant
from agents.reasoning.validation import InvalidAnswer, validated_answer
from optiinfra.llm.chat import ChatMessage
from optiinfra.llm.config import InferenceConfig
from optiinfra.llm.tiers import InferenceTier
from optiinfra.llm.usage import LlmUsage


@dataclass(frozen=True)
class Inference(Generic[AnswerT]):
    answer: AnswerT
    usage: LlmUsage


class InferenceLayer:
    """Holds per-tier circuit breakers, the answer caches and the compiled reasoning graph, so one
    instance should serve a whole worker.

    The order for each task: rules that settle it; the customer's privacy tier (content it does not allow
    never reaches a model or the semantic cache); the tier routed to by task kind; that tier's exact then
    semantic cache; the daily budget, which may downgrade to a cheaper tier (whose caches are tried too)
    or leave the task to the rules; then the reasoning graph (draft, validate, at most two repairs, each
    call through the budget and the breaker). Anything short of a valid answer is a rule answer whose
    usage record says why; tokens every call was billed for are counted."""

    def __init__(
        self,
        config: InferenceConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        semantic_cache: SemanticCache | None = None,
    ) -> None:
        self._config = config or InferenceConfig()
        self._cache = AnswerCache()
        if semantic_cache is None and self._config.semantic_cache is not None:
            semantic_cache = SemanticCache(self._config.semantic_cache)
        self._semantic = semantic_cache
        self._breakers = {
            tier: CircuitBreaker(
                failure_threshold=self._config.breaker.failure_threshold,
                cooldown_seconds=self._config.breaker.cooldown_seconds,
                clock=clock,
            )
            for tier in self._config.tiers
        }
        self._graph = build_reasoning_graph()

    async def answer(self, task: ReasoningTask[AnswerT], *, tenant: Tenant) -> Inference[AnswerT]:
        settled = task.settled_by_rules()
        if settled is not None:
            return _by_rules(task, settled, "settled by rules")
        if not tenant.privacy_tier.allows(task.content_tier):
            reason = (
                f"not sent to a model: the {task.name} prompt holds privacy tier {task.content_tier.value} "
                f"({task.content_tier.name.lower()}) content and customer {tenant.customer_id} is in tier "
                f"{tenant.privacy_tier.value}"
            )
            return _by_rules(task, task.rule_answer(), reason)
        routed = tier_for(task.kind, self._config.tiers.keys())
        if routed is None:
            return _by_rules(task, task.rule_answer(), f"no model tier configured for {task.kind} tasks")
        messages = task.messages()
        cached = await self._from_cache(task, routed, messages, tenant)
        if cached is not None:
            return cached
        choice = choose_tier(
            routed,
            self._config.tiers,
            messages,
            spent_usd=tenant.spent_today_usd,
            policy=self._config.budget,
        )
        if choice.tier is None:
            usage = LlmUsage(task=task.name, tier=routed, model=self._config.tiers[routed].client.model)
            return _fall_back(task, usage, choice.reason)
        if choice.tier is not routed:
            cached = await self._from_cache(task, choice.tier, messages, tenant)
            if cached is not None:
                return cached
        return await self._ask_model(task, choice.tier, messages, tenant, downgrade=choice.reason)

    def breaker_states(self) -> dict[InferenceTier, BreakerState]:
        """Each configured tier's circuit breaker, as it stands now."""
        return {tier: breaker.state for tier, breaker in self._breakers.items()}

    async def aclose(self) -> None:
        for tier_model in self._config.tiers.values():
            await tier_model.client.aclose()
        if self._semantic is not None:
            await self._semantic.aclose()

    async def _from_cache(
        self, task: ReasoningTask[AnswerT], tier: InferenceTier, messages: list[ChatMessage], tenant: Tenant
    ) -> Inference[AnswerT] | None:
        model = self._config.tiers[tier].client.model
        text = self._cache.get(cache_key(tier, model, messages))
        if text is not None:
            answer = _valid_or_none(task, text)
            if answer is not None:
                usage = LlmUsage(
                    task=task.name, tier=tier, model=model, cached=True, reason="exact cache hit"
                )
                return Inference(answer, usage)
        if self._semantic is None:
            return None
        hit = await self._semantic.lookup(_semantic_key(task, tier, tenant), messages)
        if hit is None:
            return None
        answer = _valid_or_none(task, hit.text)
        if answer is None:
            return None
        reason = f"semantic cache hit (similarity {hit.similarity:.3f})"
        return Inference(
            answer, LlmUsage(task=task.name, tier=tier, model=hit.model, cached=True, reason=reason)
        )

    async def _ask_model(
        self,
        task: ReasoningTask[AnswerT],
        tier: InferenceTier,
        messages: list[ChatMessage],
        tenant: Tenant,
        *,
        downgrade: str,
    ) -> Inference[AnswerT]:
        """`downgrade` says why `tier` is cheaper than the task was routed to, if it is."""
        tier_model = self._config.tiers[tier]
        budget = self._config.budget
        run = ReasoningRun(
            task=task,
            tier=tier,
            tier_model=tier_model,
            breaker=self._breakers[tier],
            allowance=CallAllowance(
                spent_usd=tenant.spent_today_usd,
                budget_usd=budget.daily_budget_usd,
                price=tier_model.price,
                max_completion_tokens=budget.max_completion_tokens,
            ),
        )
        final = cast(
            ReasoningState,
            await self._graph.ainvoke(initial_state(messages, tier_model.client.model), context=run),
        )
        usage = LlmUsage(
            task=task.name,
            tier=tier,
            model=final["model"],
            prompt_tokens=final["prompt_tokens"],
            completion_tokens=final["completion_tokens"],
            cost_usd=final["cost_usd"],
            calls=final["calls"],
            repairs=final["repairs"],
            fell_back_to_rules=final["fell_back"],
            reason="; ".join(reason for reason in (downgrade, final["reason"]) if reason),
        )
        if not final["fell_back"]:
            self._cache.put(cache_key(tier, tier_model.client.model, messages), final["text"])
            if self._semantic is not None:
                await self._semantic.store(
                    _semantic_key(task, tier, tenant), messages, answer=final["text"], model=final["model"]
                )
        return Inference(cast(AnswerT, final["answer"]), usage)


def _semantic_key(task: ReasoningTask[AnswerT], tier: InferenceTier, tenant: Tenant) -> SemanticKey:
    return SemanticKey.of(
        customer_id=tenant.customer_id,
        task=task.name,
        tier=tier,
        schema=task.answer_model.model_json_schema(),
    )


def _valid_or_none(task: ReasoningTask[AnswerT], text: str) -> AnswerT | None:
    try:
        return validated_answer(task, text)
    except InvalidAnswer:
        return None


def _by_rules(task: ReasoningTask[AnswerT], answer: AnswerT, reason: str) -> Inference[AnswerT]:
    """The rule tier answers and no model tier was ever in question."""
    return Inference(answer, LlmUsage(task=task.name, tier=InferenceTier.RULES, reason=reason))


def _fall_back(task: ReasoningTask[AnswerT], usage: LlmUsage, reason: str) -> Inference[AnswerT]:
    return Inference(
        task.rule_answer(), usage.model_copy(update={"fell_back_to_rules": True, "reason": reason})
    )
