"""Model routing: the share of a workload's traffic a cheaper model can take, and what each route costs.

A request can go to the cheaper model when it fits the cheaper model's context window (prompt plus output
tokens) and its answer is short (at most `max_generated_tokens`, 64 by default): short answers are where a
small model's quality is closest to a large one's. The share is read from the profile's joint histogram of
context and generated tokens: exact when the output threshold is an edge of its grid (64 is); a cell that
straddles the window or the threshold stays on the current model. A router decides before the answer
exists, so in practice it keys on what predicts a short answer (the request type, the `max_tokens` the
application sets): the share is what such a rule can move at most.

Costs are at the price table's list prices for the log's input and output tokens, extrapolated from the
log's span to a 30-day month."""

from dataclasses import dataclass

from optiinfra.application.model_prices import ModelPrice
from optiinfra.domain.application import GENERATED_BIN_UPPER, ApplicationProfile, RequestTypeProfile

DEFAULT_MAX_GENERATED_TOKENS = 64


@dataclass(frozen=True)
class RoutingRule:
    """What a request must satisfy to go to the cheaper model."""

    max_generated_tokens: int = DEFAULT_MAX_GENERATED_TOKENS
    """Its output is at most this many tokens."""
    context_headroom: float = 0.0
    """Share of the cheaper model's window kept free: it must fit in (1 - headroom) x the window."""

    def __post_init__(self) -> None:
        if self.max_generated_tokens < 0:
            raise ValueError("max_generated_tokens cannot be negative")
        if not 0.0 <= self.context_headroom < 1.0:
            raise ValueError("context_headroom lies in [0, 1)")

    @property
    def exact(self) -> bool:
        """The threshold is an edge of the histogram's grid, so the share is exact, not a lower bound."""
        return self.max_generated_tokens in GENERATED_BIN_UPPER


@dataclass(frozen=True)
class TypeRouting:
    request_type: str
    requests: int
    routed_requests: int

    @property
    def share(self) -> float:
        return self.routed_requests / self.requests


@dataclass(frozen=True)
class RoutingAnalysis:
    current_model: str
    cheap_model: str
    rule: RoutingRule
    window_tokens: int
    """The cheaper model's window less the headroom: what a routed request must fit."""
    requests: int
    routed_requests: int
    input_tokens: int
    output_tokens: int
    routed_input_tokens: int
    routed_output_tokens: int
    types: tuple[TypeRouting, ...]
    monthly_factor: float
    monthly_cost_current_usd: float
    """Every request on the current model."""
    monthly_cost_split_current_usd: float
    """The split: what stays on the current model..."""
    monthly_cost_split_cheap_usd: float
    """...and what the routed requests cost on the cheaper one."""

    @property
    def share(self) -> float:
        return self.routed_requests / self.requests

    @property
    def routed_input_share(self) -> float:
        return self.routed_input_tokens / self.input_tokens if self.input_tokens else 0.0

    @property
    def monthly_cost_split_usd(self) -> float:
        return self.monthly_cost_split_current_usd + self.monthly_cost_split_cheap_usd

    @property
    def monthly_savings_usd(self) -> float:
        return self.monthly_cost_current_usd - self.monthly_cost_split_usd

    @property
    def savings_share(self) -> float:
        current = self.monthly_cost_current_usd
        return self.monthly_savings_usd / current if current > 0 else 0.0


def _routable(request_type: RequestTypeProfile, window: int, rule: RoutingRule) -> tuple[int, int, int]:
    """Requests, input and output tokens of the cells every request of which the rule routes."""
    requests = input_tokens = output_tokens = 0
    for cell in request_type.cells:
        if cell.generated_upper <= rule.max_generated_tokens and (
            cell.context_upper + cell.generated_upper <= window
        ):
            requests += cell.requests
            input_tokens += cell.context_tokens
            output_tokens += cell.generated_tokens
    return requests, input_tokens, output_tokens


def analyze_routing(
    profile: ApplicationProfile, current: ModelPrice, cheap: ModelPrice, rule: RoutingRule | None = None
) -> RoutingAnalysis:
    """The share of the profile's requests `cheap` can take under `rule`, and the monthly cost of every
    request on `current` against the split."""
    rule = rule or RoutingRule()
    window = int(cheap.max_context_tokens * (1.0 - rule.context_headroom))
    types: list[TypeRouting] = []
    routed = routed_input = routed_output = 0
    for request_type in profile.types:
        requests, input_tokens, output_tokens = _routable(request_type, window, rule)
        types.append(TypeRouting(request_type.request_type, request_type.requests, requests))
        routed += requests
        routed_input += input_tokens
        routed_output += output_tokens
    factor = profile.monthly_factor
    input_total, output_total = profile.input_tokens, profile.output_tokens
    return RoutingAnalysis(
        current_model=current.name,
        cheap_model=cheap.name,
        rule=rule,
        window_tokens=window,
        requests=profile.requests,
        routed_requests=routed,
        input_tokens=input_total,
        output_tokens=output_total,
        routed_input_tokens=routed_input,
        routed_output_tokens=routed_output,
        types=tuple(types),
        monthly_factor=factor,
        monthly_cost_current_usd=current.cost_usd(input_total, output_total) * factor,
        monthly_cost_split_current_usd=current.cost_usd(
            input_total - routed_input, output_total - routed_output
        )
        * factor,
        monthly_cost_split_cheap_usd=cheap.cost_usd(routed_input, routed_output) * factor,
    )
