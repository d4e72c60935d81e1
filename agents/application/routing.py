"""Model routing: which requests a cheaper model can take, decided on what a router knows before the answer
exists, with a stated quality bound, and what each route would cost.

A router sees the request, not its answer: its request type (the label the client declares: "code",
"summarise", ...) and its prompt length. A route is one request type's prompts of at most `prompt_limit`
tokens. Short answers (at most `max_generated_tokens`, 64 by default) are where a small model's quality is
closest to a large one's, so the quality bound is on the rest: of the requests a route sends, the share that
needed a longer answer must be at most `max_long_share` (5% by default) at the upper end of its 95% Wilson
interval, over at least `min_requests` requests of the log. For each type the longest prompt limit that
meets the bound is taken, and only while every request it sends fits the cheaper model's window (prompt plus
output; a histogram cell straddling the window ends the route). Shares are read from the profile's joint
histogram of prompt and generated tokens, exact on its grid (64 is an edge; a cell straddling an off-grid
threshold counts as long).

The answer quality itself is judged by the application team: a route's savings are an upper bound until a
quality sample confirms them. A sample is the route's requests answered by both models, each comparison
judged "no worse" or "worse" (tier-1 records: the prompt length, the type and the verdict, never text). A
route is confirmed when the share of worse answers is at most `max_worse_share` at the upper end of its 95%
Wilson interval, and refuted (taken out of the split) when it is above it at the lower end; in between it
stays an upper bound and the analysis says how many more comparisons would settle it. Only confirmed routes'
savings count. Costs are at the price table's list prices for the log's input and output tokens,
extrapolated from the log's span to a 30-day month."""

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import StrEnum

from optiinfra.application.model_prices import ModelPrice
from optiinfra.domain.application import (
    GENERATED_BIN_UPPER,
    ApplicationProfile,
    QualityTally,
    RequestTypeProfile,
)

DEFAULT_MAX_GENERATED_TOKENS = 64
DEFAULT_MAX_LONG_SHARE = 0.05
DEFAULT_MIN_REQUESTS = 50
DEFAULT_MAX_WORSE_SHARE = 0.05
MAX_SAMPLE_ADVICE = 100_000
"""Past this many comparisons the analysis stops counting how many more a route needs."""
Z_95 = 1.96
"""Two-sided 95% normal quantile, for the Wilson interval."""


def _wilson(successes: int, trials: int, z: float) -> tuple[float, float]:
    """The Wilson score interval's centre and half-width (both already divided by its denominator)."""
    share = successes / trials
    z2 = z * z
    centre = share + z2 / (2 * trials)
    spread = z * math.sqrt(share * (1 - share) / trials + z2 / (4 * trials * trials))
    scale = 1 + z2 / trials
    return centre / scale, spread / scale


def wilson_upper(successes: int, trials: int, z: float = Z_95) -> float:
    """Upper end of the Wilson score interval of a binomial share: what the share may be at most, given
    `successes` of `trials` (1.0 with no trials)."""
    if trials <= 0:
        return 1.0
    centre, spread = _wilson(successes, trials, z)
    return min(1.0, centre + spread)


def wilson_lower(successes: int, trials: int, z: float = Z_95) -> float:
    """Lower end of the Wilson score interval (0.0 with no trials)."""
    if trials <= 0:
        return 0.0
    centre, spread = _wilson(successes, trials, z)
    return max(0.0, centre - spread)


def quality_sample_size(max_worse_share: float, z: float = Z_95) -> int:
    """Requests to answer with both models so that a sample with no worse answer puts the worse share's
    upper bound at `max_worse_share`: n with z^2 / (n + z^2) <= bound (Wilson at zero)."""
    return math.ceil(z * z * (1 - max_worse_share) / max_worse_share)


def comparisons_to_confirm(worse: int, compared: int, max_worse_share: float) -> int | None:
    """How many more comparisons, all judged no worse, bring the worse share's upper bound down to
    `max_worse_share`; None when more than MAX_SAMPLE_ADVICE would be needed."""
    low, high = 0, MAX_SAMPLE_ADVICE
    if wilson_upper(worse, compared + high) > max_worse_share:
        return None
    while low < high:
        middle = (low + high) // 2
        if wilson_upper(worse, compared + middle) <= max_worse_share:
            high = middle
        else:
            low = middle + 1
    return low


class QualityStatus(StrEnum):
    """Where a route's quality sample leaves it."""

    UNSAMPLED = "unsampled"
    PENDING = "pending"
    CONFIRMED = "confirmed"
    REFUTED = "refuted"


@dataclass(frozen=True)
class RoutingRule:
    """What a route must satisfy to send requests to the cheaper model."""

    max_generated_tokens: int = DEFAULT_MAX_GENERATED_TOKENS
    """A short answer: at most this many tokens."""
    max_long_share: float = DEFAULT_MAX_LONG_SHARE
    """The quality bound: the share of a route's requests that needed a longer answer, at the upper end of
    its 95% interval, is at most this."""
    min_requests: int = DEFAULT_MIN_REQUESTS
    """A route needs at least this many requests in the log to be judged."""
    context_headroom: float = 0.0
    """Share of the cheaper model's window kept free: requests must fit in (1 - headroom) x the window."""
    max_worse_share: float = DEFAULT_MAX_WORSE_SHARE
    """The quality sample's bound: the share of the cheaper model's answers judged worse, at the upper end
    of its 95% interval, is at most this for a route to be confirmed."""

    def __post_init__(self) -> None:
        if self.max_generated_tokens < 0:
            raise ValueError("max_generated_tokens cannot be negative")
        if not 0.0 < self.max_long_share < 1.0:
            raise ValueError("max_long_share lies in (0, 1)")
        if self.min_requests < 1:
            raise ValueError("min_requests is at least 1")
        if not 0.0 <= self.context_headroom < 1.0:
            raise ValueError("context_headroom lies in [0, 1)")
        if not 0.0 < self.max_worse_share < 1.0:
            raise ValueError("max_worse_share lies in (0, 1)")

    @property
    def exact(self) -> bool:
        """The threshold is an edge of the histogram's grid, so the shares are exact, not bounds."""
        return self.max_generated_tokens in GENERATED_BIN_UPPER

    @property
    def quality_sample_requests(self) -> int:
        return quality_sample_size(self.max_worse_share)


@dataclass(frozen=True)
class TypeRouting:
    """One request type's route: its prompts of at most `prompt_limit` tokens (None: no route)."""

    request_type: str
    requests: int
    prompt_limit: int | None
    routed_requests: int
    long_requests: int
    """Of the routed requests, those whose answer was longer than the short-answer threshold."""
    reason: str
    """Why the route stops where it does (or why there is none)."""
    quality: QualityStatus = QualityStatus.UNSAMPLED
    compared: int = 0
    """Requests of the route's quality sample (its type, cheaper model and prompt lengths)..."""
    worse: int = 0
    """...and of them, those whose cheaper answer was judged worse."""
    more_to_confirm: int | None = None
    """Comparisons, all no worse, that would confirm a pending route (None: settled, or too many)."""
    monthly_savings_usd: float = 0.0
    """What the route saves a month if its answers are good enough (0 for no route or a refuted one)."""

    @property
    def share(self) -> float:
        return self.routed_requests / self.requests

    @property
    def long_share(self) -> float:
        return self.long_requests / self.routed_requests if self.routed_requests else 0.0

    @property
    def long_share_upper(self) -> float:
        return wilson_upper(self.long_requests, self.routed_requests)

    @property
    def worse_share_upper(self) -> float:
        return wilson_upper(self.worse, self.compared)


@dataclass(frozen=True)
class RoutingAnalysis:
    current_model: str
    cheap_model: str
    rule: RoutingRule
    window_tokens: int
    """The cheaper model's window less the headroom: what a routed request must fit."""
    requests: int
    routed_requests: int
    long_requests: int
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
    def long_share(self) -> float:
        """Of the routed requests, the share that needed a long answer."""
        return self.long_requests / self.routed_requests if self.routed_requests else 0.0

    @property
    def routed_input_share(self) -> float:
        return self.routed_input_tokens / self.input_tokens if self.input_tokens else 0.0

    @property
    def monthly_cost_split_usd(self) -> float:
        return self.monthly_cost_split_current_usd + self.monthly_cost_split_cheap_usd

    @property
    def monthly_savings_upper_bound_usd(self) -> float:
        """What the split saves if the cheaper model's answers are good enough: an upper bound until a
        quality sample confirms it."""
        return self.monthly_cost_current_usd - self.monthly_cost_split_usd

    @property
    def monthly_savings_confirmed_usd(self) -> float:
        """What the confirmed routes save: the savings a quality sample stands behind."""
        return sum(t.monthly_savings_usd for t in self.types if t.quality is QualityStatus.CONFIRMED)

    @property
    def confirmed(self) -> bool:
        """Every route is confirmed by a quality sample."""
        routes = [t for t in self.types if t.prompt_limit is not None]
        return bool(routes) and all(t.quality is QualityStatus.CONFIRMED for t in routes)

    @property
    def savings_share(self) -> float:
        current = self.monthly_cost_current_usd
        return self.monthly_savings_upper_bound_usd / current if current > 0 else 0.0


@dataclass
class _Prefix:
    """Requests and tokens of a type's prompts up to some length."""

    requests: int = 0
    long_requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


def _route(request_type: RequestTypeProfile, window: int, rule: RoutingRule) -> tuple[TypeRouting, _Prefix]:
    """The longest prompt limit of `request_type` whose requests all fit `window` and meet the bound."""
    by_prompt: dict[int, list[int]] = {}
    for index, cell in enumerate(request_type.cells):
        by_prompt.setdefault(cell.context_bin, []).append(index)
    prefix, best = _Prefix(), _Prefix()
    limit: int | None = None
    stop = f"every prompt of the type meets the bound (at most {rule.max_long_share:.0%} long answers)"
    for context_bin in sorted(by_prompt):
        cells = [request_type.cells[i] for i in by_prompt[context_bin]]
        if any(cell.context_upper + cell.generated_upper > window for cell in cells):
            stop = (
                f"longer prompts may not fit the cheaper model's {window:,}-token window with their answers"
            )
            break
        for cell in cells:
            prefix.requests += cell.requests
            prefix.input_tokens += cell.context_tokens
            prefix.output_tokens += cell.generated_tokens
            if cell.generated_upper > rule.max_generated_tokens:
                prefix.long_requests += cell.requests
        if (
            prefix.requests >= rule.min_requests
            and wilson_upper(prefix.long_requests, prefix.requests) <= rule.max_long_share
        ):
            best = _Prefix(prefix.requests, prefix.long_requests, prefix.input_tokens, prefix.output_tokens)
            limit = cells[0].context_upper
    if limit is None and prefix.requests > 0:  # (with none, the shortest prompts overflow the window)
        stop = (
            f"fewer than {rule.min_requests} requests to judge"
            if request_type.requests < rule.min_requests
            else f"no prompt length keeps long answers (over {rule.max_generated_tokens} tokens) within "
            f"{rule.max_long_share:.0%} at 95% confidence"
        )
    elif best.requests < prefix.requests:
        stop = "longer prompts need long answers more often than the bound allows"
    routing = TypeRouting(
        request_type=request_type.request_type,
        requests=request_type.requests,
        prompt_limit=limit,
        routed_requests=best.requests,
        long_requests=best.long_requests,
        reason=stop,
    )
    return routing, best


def _judge(
    route: TypeRouting, taken: _Prefix, quality: Sequence[QualityTally], cheap_model: str, rule: RoutingRule
) -> tuple[TypeRouting, _Prefix]:
    """The route as its quality sample leaves it: the comparisons of its type, cheaper model and prompt
    lengths (every one in a bin at or below its limit), and a refuted route taken out of the split."""
    if route.prompt_limit is None:
        return route, taken
    limit = route.prompt_limit
    sample = [
        tally
        for tally in quality
        if tally.request_type == route.request_type
        and tally.cheap_model == cheap_model
        and tally.context_upper <= limit
    ]
    compared = sum(tally.compared for tally in sample)
    worse = sum(tally.worse for tally in sample)
    bound = rule.max_worse_share
    if compared == 0:
        return route, taken
    if wilson_upper(worse, compared) <= bound:
        return replace(route, quality=QualityStatus.CONFIRMED, compared=compared, worse=worse), taken
    if wilson_lower(worse, compared) > bound:
        refuted = replace(
            route,
            quality=QualityStatus.REFUTED,
            compared=compared,
            worse=worse,
            prompt_limit=None,
            routed_requests=0,
            long_requests=0,
            reason=(
                f"a quality sample refuted it: {worse} of {compared} answers judged worse, at least "
                f"{wilson_lower(worse, compared):.1%} at 95% confidence against a bound of {bound:.0%}"
            ),
        )
        return refuted, _Prefix()
    pending = replace(
        route,
        quality=QualityStatus.PENDING,
        compared=compared,
        worse=worse,
        more_to_confirm=comparisons_to_confirm(worse, compared, bound),
    )
    return pending, taken


def analyze_routing(
    profile: ApplicationProfile, current: ModelPrice, cheap: ModelPrice, rule: RoutingRule | None = None
) -> RoutingAnalysis:
    """The routes to `cheap` that `rule` allows in the profile's requests, and the monthly cost of every
    request on `current` against the split."""
    rule = rule or RoutingRule()
    window = int(cheap.max_context_tokens * (1.0 - rule.context_headroom))
    types: list[TypeRouting] = []
    routed, long_requests, routed_input, routed_output = 0, 0, 0, 0
    for request_type in profile.types:
        route, taken = _route(request_type, window, rule)
        route, taken = _judge(route, taken, profile.quality, cheap.name, rule)
        saved = (
            current.cost_usd(taken.input_tokens, taken.output_tokens)
            - cheap.cost_usd(taken.input_tokens, taken.output_tokens)
        ) * profile.monthly_factor
        types.append(replace(route, monthly_savings_usd=saved))
        routed += taken.requests
        long_requests += taken.long_requests
        routed_input += taken.input_tokens
        routed_output += taken.output_tokens
    factor = profile.monthly_factor
    input_total, output_total = profile.input_tokens, profile.output_tokens
    return RoutingAnalysis(
        current_model=current.name,
        cheap_model=cheap.name,
        rule=rule,
        window_tokens=window,
        requests=profile.requests,
        routed_requests=routed,
        long_requests=long_requests,
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
