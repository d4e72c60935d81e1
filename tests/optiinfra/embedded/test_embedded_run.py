"""`optiinfra run` on the embedded default, end to end: a throwaway stack (dev server, moto twin, the twin's
Kubernetes endpoint, twin replicas and pods serving vLLM metrics, store, metrics store, worker, API)
optimizes the demo fleet: the Cost agent for workloads on instances, the Performance agent for the one
served by a Deployment. What it finds is the same at every start, and is README.md's sample of `make run`."""

from pathlib import Path

from optiinfra.cli.api_client import ApiClient
from optiinfra.cli.readme_sample import README, readme_sample, sample_lines
from optiinfra.cli.report import KEEP_A_STACK, render_report
from optiinfra.cli.run_once import optimize_fleet, settle
from optiinfra.domain.enums import RecommendationStatus, RecommendationType, StepAction
from optiinfra.embedded.stack import running_stack
from optiinfra.settings import Settings
from optiinfra.sim.moto_server import reset_moto


async def test_one_full_optimization_of_the_twin_fleet(tmp_path: Path, moto_endpoint: str) -> None:
    # moto keeps one cloud per process: the stack's own moto server would also see earlier tests' fleets.
    reset_moto(moto_endpoint)
    settings = Settings(state_dir=tmp_path / "unused", twin_window_seconds=1.0)
    async with (
        running_stack(settings, persistent=False) as stack,
        ApiClient(stack.api_url, stack.api_token) as api,
    ):
        runs = await optimize_fleet(api, timeout_s=120)
        report = render_report(runs, persistent_stack=False, api_url=stack.api_url)
        started = await api.start_optimization("demo", "assistant", ["resource"])
        memory = await settle(api, "demo", "assistant", "resource", started.workflow_id, 120)

    by_workload = {run.workload_id: run for run in runs}
    assert set(by_workload) == {
        "chat-8b",
        "code-assist",
        "rag-embed",
        "batch-summarize",
        "support-bot",
        "assistant",
    }
    chat = by_workload["chat-8b"].recommendation
    assert chat is not None
    assert chat.type is RecommendationType.RIGHT_SIZING, by_workload["chat-8b"].status.notes
    assert chat.status is RecommendationStatus.EXECUTED
    assert chat.estimated_monthly_savings_usd > 0
    code = by_workload["code-assist"].recommendation
    assert code is not None
    assert code.type is RecommendationType.SPOT_MIGRATION
    assert code.status is RecommendationStatus.PENDING_APPROVAL
    rag = by_workload["rag-embed"].recommendation
    assert rag is not None
    assert rag.type is RecommendationType.RESERVED_CAPACITY, by_workload["rag-embed"].status.notes
    assert rag.status is RecommendationStatus.PENDING_APPROVAL
    support = by_workload["support-bot"].recommendation
    assert support is not None
    assert support.type is RecommendationType.AUTOSCALING_POLICY, by_workload["support-bot"].status.notes
    assert support.status is RecommendationStatus.PENDING_APPROVAL
    assistant = by_workload["assistant"]
    assert assistant.joint is not None
    assert assistant.workflow_id == f"{assistant.joint.workflow_id}/performance/execute"
    scaling = assistant.recommendation
    assert scaling is not None, assistant.status.notes
    assert scaling.type is RecommendationType.REPLICA_SCALING, assistant.status.notes
    assert scaling.status is RecommendationStatus.PENDING_APPROVAL
    assert [step.action for step in scaling.steps] == [
        StepAction.DRAIN_PODS,
        StepAction.SCALE_DEPLOYMENT,
    ]
    assert scaling.estimated_monthly_savings_usd > 0
    tiering = memory.recommendation
    assert tiering is not None, memory.status.notes
    assert tiering.type is RecommendationType.KV_TIERING, memory.status.notes
    assert "conversation_trace.jsonl" in str(tiering.evidence["trace"])
    assert float(tiering.evidence["hit_rate_with_host_tier"]) > float(tiering.evidence["hit_rate_gpu_only"])
    assert tiering.status is RecommendationStatus.PENDING_APPROVAL
    assert "Savings: $" in report
    # The stack is stopped when the report is read: no address of it, but how to keep one up.
    assert stack.api_url not in report and "optiinfra recommendations approve" not in report
    assert report.splitlines()[-1] == KEEP_A_STACK
    assert sample_lines(report) == readme_sample(README.read_text()), (
        "README.md's sample of `make run` differs from this run: `make readme-sample` rewrites it"
    )
