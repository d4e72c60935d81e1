"""JointOptimizationWorkflow: the four agents on one workload as one team.

propose (each agent's AgentOptimizationWorkflow as a child, in propose mode, side by side)
-> deliver what agents asked of each other and let the addressees propose again (one round)
-> coordinate: detect conflicts between the agents' best proposals and resolve them (constraints, priority
   performance > resource > cost > application, or joint reasoning through the language-model layer)
-> record the conflicts -> carry out the accepted proposals one after another, each as a child in execute
   mode (gate, approval, saga, verification, regression watch), so a regression has one cause.
"""

import asyncio
from typing import Any

from temporalio import workflow
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.exceptions import ActivityError, ChildWorkflowError, FailureError
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from optiinfra.domain.agent_requests import AgentRequest
    from optiinfra.domain.enums import AgentKind
    from optiinfra.domain.recommendation import Proposal
    from workflows import own_metrics
    from workflows.activity_calls import call_activity
    from workflows.agent_optimization import AgentOptimizationWorkflow
    from workflows.contracts import (
        JOINT_SETTLED_SIGNAL,
        ActivityName,
        AgentProposals,
        ChildExecution,
        ConflictRecord,
        CoordinationRequest,
        CoordinationResult,
        JointOptimizationRequest,
        JointPhase,
        JointStatus,
        OptimizationMode,
        OptimizationRequest,
        OptimizationStatus,
        WorkflowPhase,
    )
    from workflows.search_attributes import (
        OPTI_AGENT,
        OPTI_CUSTOMER,
        OPTI_SAVINGS_USD,
        OPTI_STATUS,
        OPTI_WORKLOAD,
    )

JOINT = "joint"
REPORT_TO_SCAN = "report-to-scan"
"""`workflow.patched` id: from this change on, a run started by a fleet scan signals it when its proposing
is over (the scan's flow control)."""


@workflow.defn
class JointOptimizationWorkflow:
    def __init__(self) -> None:
        self._status: JointStatus | None = None
        self._request: JointOptimizationRequest | None = None
        self._contexts: dict[AgentKind, dict[str, float]] = {}
        self._told_scan = False

    @workflow.query
    def get_status(self) -> JointStatus:
        assert self._status is not None
        return self._status

    @workflow.run
    async def run(self, request: JointOptimizationRequest) -> JointStatus:
        self._request = request
        own_metrics.optimization_started(agent=JOINT, mode=JOINT)
        try:
            status = await self._run(request)
        except (FailureError, asyncio.CancelledError) as ended:
            # Other exceptions fail the workflow task, which is retried: the run has not ended.
            outcome = "cancelled" if isinstance(ended, asyncio.CancelledError) else "errored"
            if isinstance(ended, FailureError):
                await self._tell_scan()
            own_metrics.optimization_finished(
                agent=JOINT, mode=JOINT, type=own_metrics.NO_TYPE, outcome=outcome
            )
            raise
        own_metrics.optimization_finished(
            agent=JOINT, mode=JOINT, type=own_metrics.NO_TYPE, outcome=status.phase.value
        )
        return status

    async def _run(self, request: JointOptimizationRequest) -> JointStatus:
        self._status = JointStatus(
            workflow_id=workflow.info().workflow_id,
            customer_id=request.customer_id,
            workload_id=request.workload_id,
            phase=JointPhase.PROPOSING,
        )
        self._publish()
        gathered = await asyncio.gather(*(self._propose(agent, []) for agent in request.agents))
        proposals = {found.agent: found for found in gathered}
        await self._answer_requests(proposals)
        self.status.proposals = [proposals[agent] for agent in request.agents]

        candidates = [found.proposals[0] for found in self.status.proposals if found.proposals]
        if not candidates:
            self._set_phase(JointPhase.NO_ACTION)
            await self._tell_scan()
            return self.status
        self._set_phase(JointPhase.RESOLVING)
        plan: CoordinationResult = await self._activity(
            ActivityName.COORDINATE,
            CoordinationRequest(
                customer_id=request.customer_id,
                candidates=candidates,
                constraints=request.constraints,
                slo_compliance=self._slo_compliance(),
            ),
            CoordinationResult,
            summary=f"coordinate {len(candidates)} proposals",
        )
        self.status.conflicts = plan.conflicts
        self.status.resolutions = plan.resolutions
        self.status.accepted = [p.title for p in plan.accepted]
        self.status.notes += plan.notes
        if plan.conflicts:
            await self._activity(
                ActivityName.RECORD_CONFLICTS,
                ConflictRecord(
                    joint_workflow_id=workflow.info().workflow_id,
                    customer_id=request.customer_id,
                    workload_id=request.workload_id,
                    conflicts=plan.conflicts,
                    resolutions=plan.resolutions,
                ),
                summary=f"record {len(plan.conflicts)} conflicts",
            )
        if not plan.accepted:
            self._set_phase(JointPhase.NO_ACTION)
            await self._tell_scan()
            return self.status
        self._set_phase(JointPhase.EXECUTING)
        await self._tell_scan()
        for proposal in plan.accepted:
            await self._execute(proposal)
        self._set_phase(JointPhase.DONE)
        return self.status

    async def _tell_scan(self) -> None:
        """Tell the fleet scan that started this run (if one did) that its proposing is over, once; a
        scan that has ended meanwhile needs no telling."""
        report_to = self.request.report_to
        if report_to is None or self._told_scan or not workflow.patched(REPORT_TO_SCAN):
            return
        self._told_scan = True
        try:
            await workflow.get_external_workflow_handle(report_to).signal(
                JOINT_SETTLED_SIGNAL, workflow.info().workflow_id
            )
        except FailureError as error:
            workflow.logger.info("the fleet scan %s was not told: %s", report_to, error)

    # ---- children -------------------------------------------------------------------------

    async def _propose(self, agent: AgentKind, requests: list[AgentRequest]) -> AgentProposals:
        suffix = "propose" if not requests else "propose-asked"
        child_id = f"{workflow.info().workflow_id}/{agent.value}/{suffix}"
        try:
            result: OptimizationStatus = await workflow.execute_child_workflow(
                AgentOptimizationWorkflow.run,
                self._child_request(agent, OptimizationMode.PROPOSE, requests=requests),
                id=child_id,
                search_attributes=self._child_attributes(agent, WorkflowPhase.COLLECTING),
                static_summary=f"{agent.value} proposals for {self._workload_name}",
            )
        except ChildWorkflowError as error:
            return AgentProposals(agent=agent, workflow_id=child_id, failure=_cause(error))
        self._contexts[agent] = result.context
        return AgentProposals(
            agent=agent,
            workflow_id=child_id,
            proposals=result.proposals,
            notes=result.notes,
            requests=result.requests,
        )

    async def _answer_requests(self, proposals: dict[AgentKind, AgentProposals]) -> None:
        """One round of the app <-> infra loop inside the team: an agent asked by another proposes again
        with the request in hand, and that second answer replaces its first."""
        asked: dict[AgentKind, list[AgentRequest]] = {}
        for found in proposals.values():
            for outgoing in found.requests:
                if outgoing.to_agent in proposals and outgoing.to_agent is not found.agent:
                    delivered = outgoing.model_copy(update={"source_workflow_id": found.workflow_id})
                    asked.setdefault(outgoing.to_agent, []).append(delivered)
        if not asked:
            return
        answers = await asyncio.gather(*(self._propose(agent, requests) for agent, requests in asked.items()))
        for answer in answers:
            if answer.failure is None:
                proposals[answer.agent] = answer
            else:
                self.status.notes.append(
                    f"the {answer.agent.value} agent could not answer its request: {answer.failure}"
                )

    async def _execute(self, proposal: Proposal) -> None:
        agent = proposal.agent
        child_id = f"{workflow.info().workflow_id}/{agent.value}/execute"
        execution = ChildExecution(agent=agent, workflow_id=child_id, title=proposal.title)
        self.status.executions.append(execution)
        self._publish()
        try:
            result: OptimizationStatus = await workflow.execute_child_workflow(
                AgentOptimizationWorkflow.run,
                self._child_request(agent, OptimizationMode.EXECUTE, proposal=proposal),
                id=child_id,
                search_attributes=self._child_attributes(agent, WorkflowPhase.COLLECTING),
                static_summary=f"{agent.value}: {proposal.title}",
                # Cancelling the team cancels the change, whose saga then puts the workload back.
                parent_close_policy=ParentClosePolicy.REQUEST_CANCEL,
            )
        except ChildWorkflowError as error:
            execution.failure_reason = _cause(error)
            return
        execution.phase = result.phase
        execution.failure_reason = result.failure_reason

    def _child_request(
        self,
        agent: AgentKind,
        mode: OptimizationMode,
        *,
        requests: list[AgentRequest] | None = None,
        proposal: Proposal | None = None,
    ) -> OptimizationRequest:
        return OptimizationRequest(
            customer_id=self.request.customer_id,
            workload_id=self.request.workload_id,
            agent=agent,
            timing=self.request.timing,
            mode=mode,
            proposal=proposal,
            context=self._contexts.get(agent, {}),
            requests=requests or [],
        )

    def _child_attributes(self, agent: AgentKind, phase: WorkflowPhase) -> TypedSearchAttributes:
        return TypedSearchAttributes(
            [
                SearchAttributePair(OPTI_CUSTOMER, self.request.customer_id),
                SearchAttributePair(OPTI_WORKLOAD, self.request.workload_id),
                SearchAttributePair(OPTI_AGENT, agent.value),
                SearchAttributePair(OPTI_STATUS, phase.value),
            ]
        )

    def _slo_compliance(self) -> float | None:
        for context in self._contexts.values():
            if "slo_compliance" in context:
                return context["slo_compliance"]
        return None

    # ---- helpers --------------------------------------------------------------------------

    @property
    def status(self) -> JointStatus:
        assert self._status is not None
        return self._status

    @property
    def request(self) -> JointOptimizationRequest:
        assert self._request is not None
        return self._request

    @property
    def _workload_name(self) -> str:
        return f"{self.request.customer_id}/{self.request.workload_id}"

    def _set_phase(self, phase: JointPhase) -> None:
        self.status.phase = phase
        self._publish()

    def _publish(self) -> None:
        """The OptiStatus attribute and the UI's details follow the team's progress."""
        workflow.upsert_search_attributes(
            [
                OPTI_STATUS.value_set(self.status.phase.value),
                OPTI_AGENT.value_set(JOINT),
                OPTI_SAVINGS_USD.value_set(0.0),
            ]
        )
        lines = [f"**{self.status.phase.value}**"]
        for found in self.status.proposals:
            best = found.proposals[0].title if found.proposals else (found.failure or "nothing to propose")
            lines.append(f"{found.agent.value}: {best}")
        for conflict, resolution in zip(self.status.conflicts, self.status.resolutions, strict=False):
            winner = resolution.winner.value if resolution.winner else "neither"
            lines.append(
                f"conflict {conflict.kind.value} ({' vs '.join(a.value for a in conflict.agents)}): "
                f"{winner} by {resolution.method.value}"
            )
        for execution in self.status.executions:
            lines.append(f"executing `{execution.workflow_id}`: {execution.phase or 'running'}")
        workflow.set_current_details("\n\n".join(lines))

    async def _activity(self, name: str, arg: Any, result_type: type | None = None, summary: str = "") -> Any:
        return await call_activity(self.request.timing, name, arg, result_type, summary=summary or None)


def _cause(error: ChildWorkflowError | ActivityError) -> str:
    cause = error.cause
    return str(cause) if cause is not None else str(error)
