"""What the activities report on the worker's metrics endpoint.

Per answer, through the activity's metric meter (tagged by the SDK with the activity type): the language
model's tokens and cost by tier. As gauges of the worker process, through the Runtime's own meter, so
that one series holds one value whichever activity set it last: each model tier's circuit-breaker state.
(How many recommendations wait for a person is the API's gauge, `optiinfra_approval_queue_pending`, per
customer: one reading of the store, whatever the number of workers.)"""

from collections.abc import Mapping

from temporalio import activity
from temporalio.client import Client
from temporalio.common import MetricMeter
from temporalio.runtime import Runtime

from agents.reasoning.breaker import BreakerState
from agents.reasoning.layering import InferenceLayer
from optiinfra.engine.metrics_runtime import (
    LLM_CIRCUIT_BREAKER_STATE,
    LLM_COST_USD,
    LLM_TOKENS,
)
from optiinfra.llm.tiers import InferenceTier
from optiinfra.llm.usage import LlmUsage

BREAKER_STATE_VALUES = {BreakerState.CLOSED: 0, BreakerState.HALF_OPEN: 1, BreakerState.OPEN: 2}
"""The gauge's value per state: 0 closed (calls go out), 1 half-open (one trial call), 2 open (the rules
answer at once)."""


def record_llm_usage(usage: LlmUsage) -> None:
    """Count one answer's tokens and cost, in the activity that asked for it; nothing outside one."""
    if not activity.in_activity():
        return
    meter = activity.metric_meter()
    tokens = meter.create_counter(LLM_TOKENS, "Language-model tokens billed, by tier and direction")
    for direction, count in (("prompt", usage.prompt_tokens), ("completion", usage.completion_tokens)):
        if count:
            tokens.add(count, {"tier": usage.tier.value, "direction": direction})
    meter.create_histogram_float(
        LLM_COST_USD, "Cost of each reasoning answer (all its calls), USD, by the tier asked"
    ).record(usage.cost_usd, {"tier": usage.tier.value})


class WorkerGauges:
    """Gauges of the worker process, on the meter of the Runtime its client runs on (a no-op meter when
    that Runtime serves no metrics)."""

    def __init__(self, meter: MetricMeter) -> None:
        self._breaker = meter.create_gauge(
            LLM_CIRCUIT_BREAKER_STATE, "Circuit breaker per model tier: 0 closed, 1 half-open, 2 open"
        )

    @classmethod
    def of_client(cls, client: Client) -> "WorkerGauges":
        runtime = client.service_client.config.runtime or Runtime.default()
        return cls(runtime.metric_meter)

    @classmethod
    def none(cls) -> "WorkerGauges":
        return cls(MetricMeter.noop)

    def breakers(self, states: Mapping[InferenceTier, BreakerState]) -> None:
        for tier, state in states.items():
            self._breaker.set(BREAKER_STATE_VALUES[state], {"tier": tier.value})

    def breakers_of(self, layer: InferenceLayer) -> None:
        self.breakers(layer.breaker_states())
