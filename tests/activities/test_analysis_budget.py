"""The analysis activity holds every agent's proposals to the customer's GPU budget: an under-provisioned
Deployment's scale-up is proposed without a budget, and held back, with the reason in the notes, when the
customer's fleet is already at its GPU cap."""

from temporalio.testing import ActivityEnvironment

from activities.analysis import AnalysisActivities
from optiinfra.domain.enums import AgentKind, StepAction
from optiinfra.domain.fleet import CustomerFleetUsage, GpuBudget, WorkloadSnapshot
from tests.agents.performance.snapshots import kube_snapshot
from workflows.contracts import AnalyzeInput


def _with_budget(snapshot: WorkloadSnapshot, budget: GpuBudget, gpus: int) -> WorkloadSnapshot:
    customer = snapshot.customer.model_copy(update={"budget": budget})
    usage = CustomerFleetUsage(instances=gpus, gpus=gpus, monthly_usd=1000.0 * gpus)
    return snapshot.model_copy(update={"customer": customer, "customer_fleet": usage})


async def test_a_scale_up_over_the_gpu_cap_is_held_back_with_its_reason() -> None:
    short = kube_snapshot(replicas=2, mean_rps=20, amplitude_rps=5)
    assert short.deployment is not None and short.deployment.gpus_per_replica >= 1
    env, analysis = ActivityEnvironment(), AnalysisActivities()

    free = await env.run(analysis.analyze_workload, AnalyzeInput(agent=AgentKind.PERFORMANCE, snapshot=short))
    scale_ups = [p for p in free.proposals if any(s.action is StepAction.SCALE_DEPLOYMENT for s in p.steps)]
    assert scale_ups, free.notes

    capped = _with_budget(short, GpuBudget(max_gpus=2 * short.deployment.gpus_per_replica), gpus=2)
    held = await env.run(
        analysis.analyze_workload, AnalyzeInput(agent=AgentKind.PERFORMANCE, snapshot=capped)
    )
    assert not [p for p in held.proposals if p.title in {u.title for u in scale_ups}]
    reasons = [n for n in held.notes if n.startswith("held back by the GPU budget")]
    assert reasons and "above its budget of 2" in reasons[0], held.notes
