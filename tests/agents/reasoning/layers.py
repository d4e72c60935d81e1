"""What the inference-layer tests share: answers for the spot proposal, a manual clock, tenants, and the
factory type of the `make_layer` fixture (conftest.py) whose tiers all point at the OpenAI stub."""

import json
from collections.abc import Callable

from agents.reasoning.explanations import ExplainProposal, ProposalExplanation
from agents.reasoning.layering import Inference, InferenceLayer
from agents.reasoning.tenant import Tenant
from optiinfra.llm.config import TokenPrice
from optiinfra.privacy.tiers import PrivacyTier
from tests.agents.reasoning.proposals import spot_proposal

MEDIUM_PRICE = TokenPrice(input_usd_per_1k=0.5, output_usd_per_1k=1.5)
# Generous: the SDK's first call in a process builds its models lazily. The timeout test sets its own.
TIMEOUT_SECONDS = 10.0
SHORT_TIMEOUT_SECONDS = 0.3
MAX_COMPLETION_TOKENS = 256

GOOD_EXPLANATION = {
    "summary": "Moving one batch replica to spot saves $1,997.43 a month, down from $4,140.00.",
    "key_factors": ["Stateless, non-critical workload", "Spot interruptions under 5% a month"],
    "risks": ["A spot instance can be reclaimed"],
}
GOOD_JSON = json.dumps(GOOD_EXPLANATION)
# Quotes no dollar figure, so it is a valid answer for a proposal with any savings.
FIGURELESS_EXPLANATION = {
    "summary": "Moving one batch replica to spot cuts its cost.",
    "key_factors": ["Stateless, non-critical workload"],
    "risks": [],
}
FIGURELESS_JSON = json.dumps(FIGURELESS_EXPLANATION)

LayerFactory = Callable[..., InferenceLayer]


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def tenant(
    *, spent: float = 0.0, privacy: PrivacyTier = PrivacyTier.METRICS_ONLY, customer_id: str = "acme"
) -> Tenant:
    return Tenant(customer_id=customer_id, privacy_tier=privacy, spent_today_usd=spent)


async def explain(
    layer: InferenceLayer, *, spent: float = 0.0, savings: float = 1997.43, customer_id: str = "acme"
) -> Inference[ProposalExplanation]:
    task = ExplainProposal(spot_proposal(savings=savings))
    return await layer.answer(task, tenant=tenant(spent=spent, customer_id=customer_id))


def rule_explanation(savings: float = 1997.43) -> ProposalExplanation:
    return ExplainProposal(spot_proposal(savings=savings)).rule_answer()
