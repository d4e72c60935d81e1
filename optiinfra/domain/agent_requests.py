"""Requests one agent sends another about the same workload: the app <-> infra loop. The Resource agent,
finding memory pressure, asks the Application agent to cut context; the Application agent, finding that
its traffic needs a longer context window than the replicas admit, asks the Resource agent for KV
capacity. Analyzers only state the request; the workflow delivers it as a signal."""

from enum import StrEnum

from pydantic import BaseModel, Field

from optiinfra.domain.enums import AgentKind


class AgentRequestKind(StrEnum):
    REDUCE_CONTEXT = "reduce_context"
    ADD_KV_CAPACITY = "add_kv_capacity"
    RECHECK_SLO = "recheck_slo"
    """A spot migration completed: replicas can now be interrupted, so the SLO risk is looked at again."""
    CHEAPER_GPU_MAY_FIT = "cheaper_gpu_may_fit"
    """KV tiering moved cache off the GPU: a GPU with less memory may now hold the workload."""

    @property
    def addressee(self) -> AgentKind:
        return _ADDRESSEE[self]


_ADDRESSEE = {
    AgentRequestKind.REDUCE_CONTEXT: AgentKind.APPLICATION,
    AgentRequestKind.ADD_KV_CAPACITY: AgentKind.RESOURCE,
    AgentRequestKind.RECHECK_SLO: AgentKind.PERFORMANCE,
    AgentRequestKind.CHEAPER_GPU_MAY_FIT: AgentKind.COST,
}


class AgentRequest(BaseModel):
    kind: AgentRequestKind
    from_agent: AgentKind
    reason: str = Field(min_length=1)
    context_tokens: int | None = Field(
        default=None,
        gt=0,
        description="reduce_context: the window the replicas can afford; add_kv_capacity: the window needed",
    )
    source_workflow_id: str = Field(default="", description="Filled in by the workflow that sends it")
    source_run_id: str = Field(
        default="", description="The sending run: workflow ids are reused across runs, run ids are not"
    )

    @property
    def to_agent(self) -> AgentKind:
        return self.kind.addressee
