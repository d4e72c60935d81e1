"""What the regression tests share: all-replica windows, per-replica window statistics for the metrics
store, an executed Kubernetes change, and an inference layer whose frontier tier is the OpenAI stub."""

from datetime import UTC, datetime, timedelta

from agents.kube_steps import scale_deployment_step
from agents.reasoning.layering import InferenceLayer
from agents.regression.rules import judge
from optiinfra.domain.enums import AgentKind, RecommendationStatus, RecommendationType, RiskLevel, StepStatus
from optiinfra.domain.performance import WorkloadWindow
from optiinfra.domain.recommendation import ExecutionStep, Recommendation, StepResult
from optiinfra.domain.regression import RegressionThresholds, RegressionVerdict, ServingHealth
from optiinfra.llm.config import BudgetPolicy, InferenceConfig, TierModel, TokenPrice
from optiinfra.llm.openai_chat import OpenAIChatClient
from optiinfra.llm.tiers import InferenceTier
from optiinfra.metrics.windows import WindowStats
from tests.support.openai_stub import OpenAIStub

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
FRONTIER_MODEL = "frontier-model"


def window(
    start: datetime,
    *,
    requests: float = 600.0,
    errors: float = 0.0,
    ttft_p99: float | None = 0.9,
    itl_p99: float | None = 0.05,
    e2e_p99: float | None = 20.0,
    seconds: float = 600.0,
) -> WorkloadWindow:
    return WorkloadWindow(
        start=start,
        seconds=seconds,
        replicas=2,
        requests=requests,
        request_rate=requests / seconds,
        prompt_tokens=requests * 2000,
        generation_tokens=requests * 250,
        errors=errors,
        preemptions=0,
        ttft_p99=ttft_p99,
        itl_p99=itl_p99,
        e2e_p99=e2e_p99,
    )


def window_stats(
    customer_id: str,
    workload_id: str,
    replica: str,
    start: datetime,
    *,
    requests: float = 300.0,
    errors: float = 0.0,
    ttft_p99: float = 0.9,
    itl_p99: float = 0.05,
    e2e_p99: float = 20.0,
    minutes: int = 10,
) -> WindowStats:
    """One replica's 10-minute window as the collector writes it."""
    seconds = minutes * 60
    return WindowStats(
        customer_id=customer_id,
        workload_id=workload_id,
        replica=replica,
        model_name="meta-llama/Llama-3.1-8B-Instruct",
        window_start=start,
        window_end=start + timedelta(seconds=seconds),
        counter_reset=False,
        requests=requests,
        prompt_tokens=requests * 2000,
        generation_tokens=requests * 250,
        preemptions=0,
        prefix_queries=0,
        prefix_hits=0,
        errors=errors,
        aborts=0,
        request_rate=requests / seconds,
        prompt_tps=requests * 2000 / seconds,
        generation_tps=requests * 250 / seconds,
        preemption_rate=0,
        prefix_hit_rate=None,
        error_rate=errors / requests if requests else None,
        ttft_mean=ttft_p99 / 3,
        ttft_p50=ttft_p99 / 4,
        ttft_p90=ttft_p99 / 2,
        ttft_p95=ttft_p99 * 0.7,
        ttft_p99=ttft_p99,
        itl_mean=itl_p99 * 0.6,
        itl_p50=itl_p99 * 0.6,
        itl_p90=itl_p99 * 0.7,
        itl_p95=itl_p99 * 0.8,
        itl_p99=itl_p99,
        e2e_mean=e2e_p99 * 0.4,
        e2e_p50=e2e_p99 * 0.35,
        e2e_p95=e2e_p99 * 0.7,
        e2e_p99=e2e_p99,
        queue_mean=0.01,
        queue_p50=0.0,
        queue_p95=0.05,
        queue_p99=0.1,
        running=2,
        waiting=0,
        kv_usage=0.2,
    )


def scale_down_change(
    *,
    recommendation_id: str = "rec-scale",
    customer_id: str = "demo",
    workload_id: str = "assistant",
    target: str = "demo/assistant",
    replicas: int = 2,
    previous: int = 6,
    status: RecommendationStatus = RecommendationStatus.EXECUTED,
    created_at: datetime = T0,
    extra_steps: tuple[ExecutionStep, ...] = (),
) -> Recommendation:
    """Our scale-down of a Deployment, whose compensation scales it back."""
    return Recommendation(
        agent=AgentKind.PERFORMANCE,
        type=RecommendationType.REPLICA_SCALING,
        title=f"Scale assistant from {previous} to {replicas} replicas",
        reasoning="The forecast peak needs fewer replicas.",
        estimated_monthly_savings_usd=4000.0,
        current_monthly_cost_usd=12000.0,
        projected_monthly_cost_usd=8000.0,
        confidence=0.9,
        risk_level=RiskLevel.MEDIUM,
        steps=[scale_deployment_step(target, replicas, previous), *extra_steps],
        recommendation_id=recommendation_id,
        workflow_id=f"opt/{customer_id}/{workload_id}/performance/{recommendation_id}",
        customer_id=customer_id,
        workload_id=workload_id,
        status=status,
        created_at=created_at,
    )


def succeeded(
    step: ExecutionStep, finished_at: datetime, status: StepStatus = StepStatus.SUCCEEDED
) -> StepResult:
    return StepResult(
        step_id=step.step_id,
        action=step.action,
        target=step.target,
        status=status,
        detail="done",
        resource_ids=[step.target],
        finished_at=finished_at,
    )


def frontier_layer(stub: OpenAIStub) -> InferenceLayer:
    """A layer whose only model tier, the frontier one (root cause's tier), is the stub."""
    client = OpenAIChatClient(
        base_url=stub.base_url, model=FRONTIER_MODEL, api_key="test-key", timeout_seconds=10.0
    )
    return InferenceLayer(
        InferenceConfig(
            tiers={
                InferenceTier.FRONTIER: TierModel(
                    client=client, price=TokenPrice(input_usd_per_1k=1.0, output_usd_per_1k=2.0)
                )
            },
            budget=BudgetPolicy(daily_budget_usd=50.0, max_completion_tokens=256),
        )
    )


def health(
    *,
    requests: float = 10_000.0,
    ttft: float | None = 0.9,
    itl: float | None = 0.05,
    e2e: float | None = 20.0,
    error_rate: float | None = 0.001,
    since_hours: int = 0,
) -> ServingHealth:
    since = T0 + timedelta(hours=since_hours)
    return ServingHealth(
        customer_id="demo",
        workload_id="assistant",
        since=since,
        until=since + HOUR,
        windows=6,
        requests=requests,
        ttft_p99_s=ttft,
        itl_p99_s=itl,
        e2e_p99_s=e2e,
        error_rate=error_rate,
    )


def regressed_verdict(ttft: float = 1.35, error_rate: float = 0.001) -> RegressionVerdict:
    """TTFT p99 +50% (by default) over the hour after the baseline's."""
    return judge(health(), health(ttft=ttft, error_rate=error_rate, since_hours=1), RegressionThresholds())


def quiet_verdict() -> RegressionVerdict:
    return judge(health(), health(ttft=0.92, since_hours=1), RegressionThresholds())
