"""Prompt efficiency: where a workload pays for input its answers barely need.

From tier-1 counts alone: the requests that send a long prompt (more than `LONG_INPUT_TOKENS`) for a short
answer (at most `SHORT_OUTPUT_TOKENS`), the share of the input tokens they carry, and how much the token
counts vary per request type (coefficient of variation). The input those requests send beyond
`LONG_INPUT_TOKENS` is the trimming estimate: what cutting their prompts to that size (less retrieved or
pasted context, shorter history) would save, priced at the model's input price. It is an upper bound the
application team checks against answer quality. Both thresholds are edges of the profile's grids, so the
counts are exact.

With tier-2 prompt-structure shares, the system prompt and examples are the part of every prompt that
repeats: placed first, they are served from the provider's prompt cache (or vLLM's prefix cache), priced
at the model's cached-input price where it has one."""

from dataclasses import dataclass

from optiinfra.application.model_prices import ModelPrice
from optiinfra.domain.application import ApplicationProfile, RequestTypeProfile
from optiinfra.privacy.aggregates import PromptPart, PromptStructure

LONG_INPUT_TOKENS = 2_048
"""A prompt of more than this many tokens is long: eight 256-token blocks."""
SHORT_OUTPUT_TOKENS = 20
"""An answer of at most this many tokens is short: a label, a yes/no, a line of code."""
HIGH_VARIANCE_CV = 1.0
"""Token counts whose standard deviation exceeds their mean vary too much for one size to fit the type."""
NOTABLE_INPUT_SHARE = 0.2
"""Long-prompt short-answer requests are worth acting on once they carry this share of a type's input."""
CACHEABLE_PARTS = (PromptPart.SYSTEM, PromptPart.EXAMPLES)
"""Prompt parts that repeat from request to request and so can be served from a prompt cache."""


@dataclass(frozen=True)
class TypeEfficiency:
    request_type: str
    requests: int
    input_tokens: int
    output_tokens: int
    long_short_requests: int
    long_short_input_tokens: int
    excess_input_tokens: int
    """Input of the long-prompt short-answer requests beyond `long_input_tokens`."""
    context_cv: float
    generated_cv: float
    cacheable_share: float | None
    """Share of the prompt in its repeating parts (tier 2), None without prompt-structure statistics."""

    @property
    def long_short_share(self) -> float:
        return self.long_short_requests / self.requests

    @property
    def long_short_input_share(self) -> float:
        return self.long_short_input_tokens / self.input_tokens if self.input_tokens else 0.0

    @property
    def input_per_output(self) -> float | None:
        return self.input_tokens / self.output_tokens if self.output_tokens else None

    @property
    def cacheable_input_tokens(self) -> float:
        return (self.cacheable_share or 0.0) * self.input_tokens


@dataclass(frozen=True)
class PromptEfficiency:
    long_input_tokens: int
    short_output_tokens: int
    types: tuple[TypeEfficiency, ...]
    findings: tuple[str, ...]
    monthly_factor: float
    input_usd_per_1m: float | None
    cached_input_usd_per_1m: float | None

    @property
    def requests(self) -> int:
        return sum(t.requests for t in self.types)

    @property
    def input_tokens(self) -> int:
        return sum(t.input_tokens for t in self.types)

    @property
    def long_short_requests(self) -> int:
        return sum(t.long_short_requests for t in self.types)

    @property
    def long_short_input_tokens(self) -> int:
        return sum(t.long_short_input_tokens for t in self.types)

    @property
    def excess_input_tokens(self) -> int:
        return sum(t.excess_input_tokens for t in self.types)

    @property
    def monthly_excess_tokens(self) -> float:
        return self.excess_input_tokens * self.monthly_factor

    @property
    def monthly_trim_savings_usd(self) -> float | None:
        if self.input_usd_per_1m is None:
            return None
        return self.monthly_excess_tokens * self.input_usd_per_1m / 1_000_000

    @property
    def monthly_cacheable_tokens(self) -> float:
        return sum(t.cacheable_input_tokens for t in self.types) * self.monthly_factor

    @property
    def monthly_cache_savings_usd(self) -> float | None:
        """The repeating parts at the cached-input price rather than the input price; None without a
        cached price (or without prompt-structure statistics, when it is 0)."""
        if self.input_usd_per_1m is None or self.cached_input_usd_per_1m is None:
            return None
        discount = self.input_usd_per_1m - self.cached_input_usd_per_1m
        return self.monthly_cacheable_tokens * discount / 1_000_000


def _type_efficiency(
    request_type: RequestTypeProfile, structure: PromptStructure | None, long_input: int, short_output: int
) -> TypeEfficiency:
    requests = input_tokens = 0
    for cell in request_type.cells:
        if cell.context_lower >= long_input and cell.generated_upper <= short_output:
            requests += cell.requests
            input_tokens += cell.context_tokens
    cacheable = None
    if structure is not None:
        cacheable = sum(structure.shares.get(part, 0.0) for part in CACHEABLE_PARTS)
    return TypeEfficiency(
        request_type=request_type.request_type,
        requests=request_type.requests,
        input_tokens=request_type.context.sum,
        output_tokens=request_type.generated.sum,
        long_short_requests=requests,
        long_short_input_tokens=input_tokens,
        excess_input_tokens=input_tokens - requests * long_input,
        context_cv=request_type.context.cv,
        generated_cv=request_type.generated.cv,
        cacheable_share=cacheable,
    )


def _findings(found: TypeEfficiency, long_input: int, short_output: int) -> list[str]:
    name = found.request_type
    findings: list[str] = []
    if found.long_short_requests and found.long_short_input_share >= NOTABLE_INPUT_SHARE:
        findings.append(
            f"{name}: {found.long_short_share:.1%} of requests send more than {long_input:,} prompt tokens "
            f"for at most {short_output} tokens back and carry {found.long_short_input_share:.1%} of its "
            f"input tokens; cutting those prompts to {long_input:,} tokens would drop "
            f"{found.excess_input_tokens:,} of its {found.input_tokens:,} input tokens "
            f"({found.excess_input_tokens / found.input_tokens:.1%})"
        )
    if found.context_cv >= HIGH_VARIANCE_CV:
        findings.append(
            f"{name}: prompt lengths vary widely (CV {found.context_cv:.2f}): one window or prompt budget "
            "sized for the typical request fits few of them"
        )
    if found.generated_cv >= HIGH_VARIANCE_CV:
        findings.append(
            f"{name}: output lengths vary widely (CV {found.generated_cv:.2f}): short and long answers are "
            "mixed in one request type; split it so routing and max_tokens can key on the short ones"
        )
    if found.cacheable_share:
        findings.append(
            f"{name}: the system prompt and examples are {found.cacheable_share:.0%} of its prompt tokens; "
            "put them first so the prompt cache serves them"
        )
    return findings


def analyze_prompt_efficiency(
    profile: ApplicationProfile,
    price: ModelPrice | None = None,
    *,
    long_input_tokens: int = LONG_INPUT_TOKENS,
    short_output_tokens: int = SHORT_OUTPUT_TOKENS,
) -> PromptEfficiency:
    """Per request type, with findings in words; dollar figures when `price` is given."""
    types = tuple(
        _type_efficiency(
            t, profile.prompt_structure_of(t.request_type), long_input_tokens, short_output_tokens
        )
        for t in profile.types
    )
    findings = tuple(f for t in types for f in _findings(t, long_input_tokens, short_output_tokens))
    return PromptEfficiency(
        long_input_tokens=long_input_tokens,
        short_output_tokens=short_output_tokens,
        types=types,
        findings=findings,
        monthly_factor=profile.monthly_factor,
        input_usd_per_1m=price.input_usd_per_1m if price is not None else None,
        cached_input_usd_per_1m=price.cached_input_usd_per_1m if price is not None else None,
    )
