"""Task queues by kind of work: the workflows and their bookkeeping on the base queue
(OPTIINFRA_TEMPORAL_TASK_QUEUE), and each heavy or rate-bound kind of activity on a queue of its own,
`<base>-<kind>`, so each kind runs on workers sized for it and scales on its own backlog:

- orchestration (`<base>`): the workflows, and the store's reads and writes they wait on;
- cloud (`<base>-cloud`): reads and changes of cloud accounts and Kubernetes clusters (rate-limited by them);
- analysis (`<base>-analysis`): the agents' analyzers (forecasts, integer programs, replays: CPU-bound);
- llm (`<base>-llm`): language-model calls (bound by their budget and breakers);
- metrics (`<base>-metrics`): metrics collection and serving-health reads of the metrics store.

A workflow sends each activity to the queue of its kind beside its own queue, so a run started on any base
queue (a test's own) finds its activities' workers there. Workflow code: deterministic, no I/O."""

from enum import StrEnum

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.contracts import ActivityName

RECORD_ROLLBACK = "record_rollback"
"""workflows.rollback's own bookkeeping activity (named there; repeated here to keep this module a leaf)."""


class WorkKind(StrEnum):
    ORCHESTRATION = "orchestration"
    CLOUD = "cloud"
    ANALYSIS = "analysis"
    LLM = "llm"
    METRICS = "metrics"


ACTIVITY_KINDS: dict[str, WorkKind] = {
    # cloud accounts and clusters
    ActivityName.COLLECT_SNAPSHOT: WorkKind.CLOUD,
    ActivityName.COLLECT_STORED_SNAPSHOT: WorkKind.CLOUD,
    ActivityName.READ_OBJECTS: WorkKind.CLOUD,
    ActivityName.EXECUTE_STEP: WorkKind.CLOUD,
    ActivityName.COMPENSATE_STEP: WorkKind.CLOUD,
    ActivityName.VERIFY: WorkKind.CLOUD,
    ActivityName.EXECUTE_KUBE_STEP: WorkKind.CLOUD,
    ActivityName.COMPENSATE_KUBE_STEP: WorkKind.CLOUD,
    ActivityName.VERIFY_KUBE: WorkKind.CLOUD,
    # the analyzers
    ActivityName.ANALYZE: WorkKind.ANALYSIS,
    ActivityName.ANALYZE_STORED: WorkKind.ANALYSIS,
    # language models
    ActivityName.EXPLAIN_PROPOSAL: WorkKind.LLM,
    ActivityName.COORDINATE: WorkKind.LLM,
    ActivityName.EXPLAIN_REGRESSION: WorkKind.LLM,
    # the metrics store
    ActivityName.COLLECT_METRICS: WorkKind.METRICS,
    ActivityName.MEASURE_SERVING_HEALTH: WorkKind.METRICS,
    ActivityName.CHECK_REGRESSION: WorkKind.METRICS,
    # bookkeeping the workflows wait on
    ActivityName.LOAD_WORKLOAD: WorkKind.ORCHESTRATION,
    ActivityName.LIST_WORKLOADS: WorkKind.ORCHESTRATION,
    ActivityName.LIST_SCAN_PAGE: WorkKind.ORCHESTRATION,
    ActivityName.PERSIST_RECOMMENDATION: WorkKind.ORCHESTRATION,
    ActivityName.CHANGE_STATUS: WorkKind.ORCHESTRATION,
    ActivityName.RECORD_STEP: WorkKind.ORCHESTRATION,
    ActivityName.RECORD_OUTCOME: WorkKind.ORCHESTRATION,
    ActivityName.SEND_AGENT_REQUEST: WorkKind.ORCHESTRATION,
    ActivityName.COLLECT_APPLICATION_PROFILE: WorkKind.ORCHESTRATION,
    ActivityName.LOAD_ROLLBACK_PLAN: WorkKind.ORCHESTRATION,
    ActivityName.FIND_RECENT_CHANGE: WorkKind.ORCHESTRATION,
    ActivityName.ADJUST_CONFIDENCE: WorkKind.ORCHESTRATION,
    ActivityName.RECORD_LEARNED_OUTCOME: WorkKind.ORCHESTRATION,
    ActivityName.RECORD_CONFLICTS: WorkKind.ORCHESTRATION,
    ActivityName.ACQUIRE_WORKLOAD_LOCK: WorkKind.ORCHESTRATION,
    ActivityName.RELEASE_WORKLOAD_LOCK: WorkKind.ORCHESTRATION,
    RECORD_ROLLBACK: WorkKind.ORCHESTRATION,
}


def task_queue(base: str, kind: WorkKind) -> str:
    return base if kind is WorkKind.ORCHESTRATION else f"{base}-{kind.value}"


def activity_kind(name: str) -> WorkKind:
    """The kind of an activity; an activity not listed is a mistake, caught by the workers' registration."""
    return ACTIVITY_KINDS[name]


def activity_task_queue(name: str) -> str:
    """The queue activity `name` runs on, beside the calling workflow's own queue."""
    return task_queue(workflow.info().task_queue, activity_kind(name))
