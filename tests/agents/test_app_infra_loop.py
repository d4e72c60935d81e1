"""The app <-> infra loop as the analyzers state it: the Resource agent under memory pressure asks the
Application agent to cut context, the Application agent puts context cuts first when asked, and asks the
Resource agent for KV capacity when its requests need a longer window than the replicas admit, which the
Resource agent answers with a checked --max-model-len rollout."""

import json

from agents.application.profile import profile_requests
from agents.application.routing import RoutingRule
from agents.application.strategies import ApplicationSettings, analyze_application, kv_capacity_request
from agents.resource.strategies import analyze_resource
from optiinfra.domain.agent_requests import AgentRequest, AgentRequestKind
from optiinfra.domain.enums import AgentKind, RecommendationType, StepAction
from optiinfra.domain.fleet import WorkloadSnapshot
from optiinfra.kube.vllm_args import flag_value
from tests.agents.application.records import records
from tests.agents.performance.snapshots import kube_snapshot

# Prompt plus output of about 6,000 tokens at p95: the window they need is 6,656 tokens (p95 + 10%).
SHAPES = [(5800, 200), (3000, 40), (1200, 20), (5900, 100), (800, 10)] * 20


def _pressured(snapshot: WorkloadSnapshot) -> WorkloadSnapshot:
    windows = [
        w.model_copy(update={"kv_usage_max": 0.98, "preemptions": 40.0, "running": 40.0, "waiting": 30.0})
        for w in snapshot.windows
    ]
    return snapshot.model_copy(update={"windows": windows})


def _with_log(snapshot: WorkloadSnapshot, model: str) -> WorkloadSnapshot:
    profile = profile_requests(records(SHAPES, model="llama-3.1-8b-instruct"))
    return snapshot.model_copy(
        update={
            "application": profile,
            "workload": snapshot.workload.model_copy(update={"model_name": model}),
        }
    )


def test_memory_pressure_asks_the_application_agent_to_cut_context() -> None:
    snapshot = _pressured(kube_snapshot(replicas=4, mean_rps=2.0, amplitude_rps=1.0))
    result = analyze_resource(snapshot)
    [request] = result.requests
    assert request.kind is AgentRequestKind.REDUCE_CONTEXT and request.to_agent is AgentKind.APPLICATION
    assert request.from_agent is AgentKind.RESOURCE and "memory pressure" in request.reason
    assert request.context_tokens is not None and request.context_tokens % 256 == 0


def test_calm_replicas_ask_nothing() -> None:
    assert analyze_resource(kube_snapshot(replicas=4, mean_rps=2.0, amplitude_rps=1.0)).requests == []


def test_asked_to_cut_context_the_application_agent_puts_context_cuts_first_and_cites_the_request() -> None:
    # An 8,192 window over requests needing 6,656: a 19% cut, ranked below routing's potential unless asked
    # (routing under a loose quality bound: 40% of these answers are long).
    snapshot = _with_log(
        kube_snapshot(replicas=4, mean_rps=2.0, amplitude_rps=1.0, args=["--max-model-len", "8192"]),
        "meta-llama/Llama-3.1-70B-Instruct",
    )
    loose = ApplicationSettings(routing=RoutingRule(max_long_share=0.6))
    unasked = analyze_application(snapshot, settings=loose)
    asked_for = AgentRequest(
        kind=AgentRequestKind.REDUCE_CONTEXT,
        from_agent=AgentKind.RESOURCE,
        reason="memory pressure critical (0.99)",
        context_tokens=1024,
        source_workflow_id="opt/acme/assistant/resource/1",
    )
    asked = analyze_application(snapshot, settings=loose, requests=[asked_for])
    first = asked.proposals[0]
    assert first.type is RecommendationType.CONTEXT_RIGHT_SIZING
    assert first.reasoning.startswith("Asked by the resource agent to cut context: memory pressure critical")
    assert first.steps == [] and first.evidence["recommended_window_tokens"] == 6656.0
    assert {p.type for p in asked.proposals} == {p.type for p in unasked.proposals}
    assert unasked.proposals[0].type is not RecommendationType.CONTEXT_RIGHT_SIZING


def test_a_small_cut_is_proposed_only_when_asked() -> None:
    # 7,168 -> 6,656 is a 7% cut: below the 10% that makes a rollout worth it on its own.
    snapshot = _with_log(
        kube_snapshot(replicas=4, mean_rps=2.0, amplitude_rps=1.0, args=["--max-model-len", "7168"]),
        "meta-llama/Llama-3.1-8B-Instruct",
    )
    assert RecommendationType.CONTEXT_RIGHT_SIZING not in {
        p.type for p in analyze_application(snapshot).proposals
    }
    asked = analyze_application(
        snapshot,
        requests=[
            AgentRequest(
                kind=AgentRequestKind.REDUCE_CONTEXT, from_agent=AgentKind.RESOURCE, reason="pressure"
            )
        ],
    )
    assert asked.proposals[0].type is RecommendationType.CONTEXT_RIGHT_SIZING


def test_requests_longer_than_the_window_ask_the_resource_agent_for_kv_capacity_which_it_grants() -> None:
    base = kube_snapshot(replicas=4, mean_rps=2.0, amplitude_rps=1.0, args=["--max-model-len", "4096"])
    snapshot = _with_log(base, "meta-llama/Llama-3.1-8B-Instruct")
    [request] = analyze_application(snapshot).requests
    assert request.kind is AgentRequestKind.ADD_KV_CAPACITY and request.to_agent is AgentKind.RESOURCE
    assert request.context_tokens == 6656 and "admit 4,096 tokens" in request.reason
    # the window asked for (and granted below) holds the longest request clients sent, not only the p95
    assert snapshot.application is not None
    longest = max(t.total.max for t in snapshot.application.types)
    assert longest < request.context_tokens and f"reach {longest:,} tokens" in request.reason

    answer = analyze_resource(base, [request])
    first = answer.proposals[0]
    assert first.type is RecommendationType.CONTEXT_RIGHT_SIZING and first.agent is AgentKind.RESOURCE
    [step] = first.steps
    assert step.action is StepAction.SET_VLLM_ARGS
    assert flag_value(json.loads(step.params["args"]), "--max-model-len") == "6656"
    assert step.compensation is not None
    assert flag_value(json.loads(step.compensation.params["args"]), "--max-model-len") == "4096"
    assert first.evidence["sequences_at_requested_context"] >= 1


def test_the_window_asked_for_is_the_longest_request_seen_within_the_models_own_limit() -> None:
    """The longest logged request sizes the window, with its margin, up to the model's context; a window
    already holding every request asks for nothing."""
    snapshot = _with_log(
        kube_snapshot(replicas=4, mean_rps=2.0, amplitude_rps=1.0, args=["--max-model-len", "4096"]),
        "meta-llama/Llama-3.1-8B-Instruct",
    )
    profile = snapshot.application
    assert profile is not None
    settings = ApplicationSettings()
    longest = max(t.total.max for t in profile.types)
    asked = kv_capacity_request(profile, settings, 4096)
    assert asked is not None and asked.context_tokens is not None
    assert longest * (1 + settings.context_buffer) <= asked.context_tokens
    capped = kv_capacity_request(profile, settings, 4096, model_limit=longest + 10)
    assert capped is not None and capped.context_tokens == longest + 10
    assert kv_capacity_request(profile, settings, longest) is None


def test_the_resource_agent_declines_a_window_its_kv_cache_cannot_hold() -> None:
    base = kube_snapshot(replicas=4, mean_rps=2.0, amplitude_rps=1.0, args=["--max-model-len", "4096"])
    request = AgentRequest(
        kind=AgentRequestKind.ADD_KV_CAPACITY,
        from_agent=AgentKind.APPLICATION,
        reason="long documents",
        context_tokens=50_000_000,
    )
    answer = analyze_resource(base, [request])
    assert all(p.type is not RecommendationType.CONTEXT_RIGHT_SIZING for p in answer.proposals)
    assert any("KV cache holds only" in note for note in answer.notes)


def test_windows_that_already_fit_ask_nothing() -> None:
    base = kube_snapshot(replicas=4, mean_rps=2.0, amplitude_rps=1.0, args=["--max-model-len", "8192"])
    assert analyze_application(_with_log(base, "meta-llama/Llama-3.1-8B-Instruct")).requests == []
