import json

from agents.performance.advice import balancing_advice, tensor_parallel_advice
from agents.performance.serving import ServingContext
from agents.performance.tuning import analyze_serving_tuning
from optiinfra.domain.enums import RecommendationType, StepAction
from optiinfra.domain.performance import ReplicaLoad
from tests.agents.performance.snapshots import MODEL, context_of, kube_snapshot

# A p95 ITL objective the A10G meets with prefill chunks in the batch: with chunked prefill the p95 gap is
# a step that carries a chunk, so a tighter objective caps capacity whatever the batch limit.
LOOSE_ITL_S = 0.6


def _context(args: list[str]) -> tuple[ServingContext, object]:
    snapshot = kube_snapshot(replicas=6, mean_rps=8, amplitude_rps=4, args=args, slo_itl_p95_s=LOOSE_ITL_S)
    return context_of(snapshot), snapshot


def test_a_batch_limit_that_starves_the_gpu_is_raised_with_a_rolling_update_it_can_undo() -> None:
    args = ["--model", MODEL, "--max-num-seqs", "32"]
    context, snapshot = _context(args)
    assert context.config.max_num_seqs == 32
    proposal = analyze_serving_tuning(snapshot, context)  # type: ignore[arg-type]
    assert not isinstance(proposal, str), proposal
    assert proposal.type is RecommendationType.SERVING_TUNING
    assert proposal.evidence["capacity_rps_after"] > 1.1 * float(proposal.evidence["capacity_rps_before"])
    (step,) = proposal.steps
    assert step.action is StepAction.SET_VLLM_ARGS and step.target == "llm/assistant"
    new_args = json.loads(step.params["args"])
    assert new_args[:2] == ["--model", MODEL]
    assert int(new_args[new_args.index("--max-num-seqs") + 1]) > 32
    assert json.loads(step.params["expected"]) == args
    assert step.compensation is not None
    assert json.loads(step.compensation.params["args"]) == args


def test_a_tuning_vllm_would_refuse_to_start_with_is_not_proposed_and_says_why() -> None:
    """A flag this vLLM does not know stays in the arguments the rolling update would start: the agent
    says so instead of proposing a restart into a crash loop."""
    args = ["--model", MODEL, "--max-num-seqs", "32", "--enable-lora-bias"]
    context, snapshot = _context(args)
    found = analyze_serving_tuning(snapshot, context)  # type: ignore[arg-type]
    assert isinstance(found, str)
    assert "not proposed: vLLM 0.32.0 does not know --enable-lora-bias" in found


def test_vllm_defaults_are_left_alone_when_no_setting_serves_clearly_more() -> None:
    context, snapshot = _context(["--model", MODEL])
    found = analyze_serving_tuning(snapshot, context)  # type: ignore[arg-type]
    assert isinstance(found, str) and "within 10% of the best" in found


def test_balancing_advice_follows_the_measured_traffic() -> None:
    even = [ReplicaLoad(replica=f"r{i}", instance_type="g6e.xlarge", request_rate=2.0) for i in range(4)]
    assert balancing_advice(even, {}) is None
    skewed = [*even[:3], ReplicaLoad(replica="r3", instance_type="g6e.xlarge", request_rate=6.0)]
    assert "least outstanding requests" in (balancing_advice(skewed, {}) or "")
    cached = [load.model_copy(update={"prefix_hit_rate": 0.4}) for load in even]
    assert "prefix-aware" in (balancing_advice(cached, {}) or "")
    mixed = [*even[:2], *(load.model_copy(update={"instance_type": "g6.xlarge"}) for load in even[2:])]
    advice = balancing_advice(mixed, {"g6e.xlarge": 5.5, "g6.xlarge": 0.5}) or ""
    assert "weight routing" in advice and "g6.xlarge: 0.50" in advice


def test_tensor_parallel_advice_needs_a_node_with_more_than_one_gpu() -> None:
    context, _ = _context(["--model", MODEL])
    assert tensor_parallel_advice(context) is None
