"""AgentOptimizationWorkflow: one agent's optimization of one workload, from measurement to outcome.

collect -> analyze -> weigh past outcomes -> persist -> gate -> (wait for one decision, approve or reject,
or expire) -> measure the baseline -> execute as a saga -> verify after a durable timer -> watch for a
regression -> compensate on failure or regression -> record the outcome, and learn from it.

Three modes: `full` (all of it, a run started on its own), `propose` (collect and analyze, and return the
proposals to a joint optimization) and `execute` (carry out the proposal a joint optimization accepted).
"""

import asyncio
from datetime import datetime, timedelta
from typing import Any, Literal

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError, FailureError

with workflow.unsafe.imports_passed_through():
    from agents.gate import decide_gate
    from agents.learning.confidence import learned_outcome
    from optiinfra.domain.agent_requests import AgentRequest, AgentRequestKind
    from optiinfra.domain.enums import (
        AgentKind,
        DecisionKind,
        RecommendationStatus,
        RecommendationType,
        StepPhase,
        StepStatus,
    )
    from optiinfra.domain.fleet import WorkloadSnapshot
    from optiinfra.domain.preflight import ObjectReading, unmet_preconditions
    from optiinfra.domain.recommendation import (
        AnalysisResult,
        Approval,
        CompensationStep,
        ExecutionStep,
        Explanation,
        Outcome,
        Proposal,
        Recommendation,
        StepResult,
    )
    from optiinfra.domain.regression import RegressionVerdict, RootCauseNote, ServingHealth
    from workflows import own_metrics
    from workflows.activity_calls import call_activity, compensation_activity, failed_step_result
    from workflows.contracts import (
        DECISION_REFUSED,
        ActivityName,
        AgentRequestDelivery,
        AgentRequestReceipt,
        AnalyzeInput,
        AnalyzeStoredInput,
        ApplicationProfileResult,
        CompensationRequest,
        ConfidenceQuery,
        ConfidenceResult,
        ExplainRequest,
        ExplainResult,
        HealthRequest,
        LearnedOutcomeRecord,
        LockAnswer,
        OptimizationMode,
        OptimizationRequest,
        OptimizationStatus,
        RefusedDecision,
        RegressionCheck,
        RootCauseRequest,
        StatusChange,
        StepRecord,
        StepRequest,
        StoredSnapshot,
        VerificationResult,
        VerifyRequest,
        WorkflowPhase,
        WorkloadContext,
        WorkloadLock,
        WorkloadRef,
    )
    from workflows.search_attributes import OPTI_SAVINGS_USD, OPTI_STATUS


SNAPSHOT_BY_REFERENCE = "snapshot-by-reference"
"""`workflow.patched` id: from this change on, the snapshot is stored in the database and passed by id."""

ADVICE_ACCEPTED = (
    "accepted as advice: it has no steps for OptiInfra to run; the application's owners apply it"
)


ANNOUNCEMENTS = {
    RecommendationType.SPOT_MIGRATION: (
        AgentRequestKind.RECHECK_SLO,
        "replicas moved to spot capacity and can now be interrupted: re-check the SLO risk",
    ),
    RecommendationType.KV_TIERING: (
        AgentRequestKind.CHEAPER_GPU_MAY_FIT,
        "KV cache now spills to CPU memory and disk: a GPU with less memory may now hold the workload",
    ),
}
"""What a completed change tells another agent, by the change's type."""


def commits_spend(recommendation: Recommendation) -> bool:
    return any(step.action.commits_spend for step in recommendation.steps)


def on_kubernetes(recommendation: Recommendation) -> bool:
    """Its steps act on a Kubernetes Deployment, so the Kubernetes activities verify it."""
    return bool(recommendation.steps) and all(step.action.on_kubernetes for step in recommendation.steps)


class StepFailedError(Exception):
    """A saga step failed; carries the reason that ends up on the recommendation."""


@workflow.defn
class AgentOptimizationWorkflow:
    def __init__(self) -> None:
        self._status: OptimizationStatus | None = None
        self._decision: Approval | None = None
        self._request: OptimizationRequest | None = None
        self._agent_requests: list[AgentRequest] = []
        self._refused: list[RefusedDecision] = []
        self._analyzed = False
        self._region: str | None = None

    # ---- handlers -------------------------------------------------------------------------

    @workflow.update
    def decide(self, approval: Approval) -> Approval:
        """A person's decision, answered: the one accepted, with its `decided_at`. Exactly one decision
        wins; any other fails with a DECISION_REFUSED ApplicationError naming the winner (or the phase)."""
        # The validator passed, but the validators of updates delivered in one activation may all run
        # before the first of their handlers: check again, in the handler that changes the state.
        refusal = self._refusal()
        if refusal is not None:
            self._refuse(approval, refusal, via="update")
            raise self._refusal_error(refusal)
        self._decision = approval.model_copy(update={"decided_at": workflow.now()})
        return self._decision

    @decide.validator
    def _validate_decision(self, approval: Approval) -> None:
        """Refused here, an update leaves no event in the history; its caller gets the refusal."""
        refusal = self._refusal()
        if refusal is not None:
            raise self._refusal_error(refusal)

    @workflow.signal
    def approve(self, approval: Approval) -> None:
        """For `temporal workflow signal`: the same rule as `decide`, the refusal kept in the status."""
        self._take_signalled(approval.model_copy(update={"decision": DecisionKind.APPROVE}))

    @workflow.signal
    def reject(self, approval: Approval) -> None:
        self._take_signalled(approval.model_copy(update={"decision": DecisionKind.REJECT}))

    @workflow.signal(name="agent_request")
    def receive_agent_request(self, request: AgentRequest) -> None:
        """Another agent asks this one to look at the workload (the app <-> infra loop). Requests that
        arrive after the analysis ran are kept in the notes for the person reading the run."""
        if any(
            r.kind is request.kind and r.source_workflow_id == request.source_workflow_id
            for r in self._agent_requests
        ):
            return
        self._agent_requests.append(request)
        if self._analyzed and self._status is not None:
            self._status.notes.append(
                f"the {request.from_agent.value} agent's request ({request.kind.value}) arrived after the "
                f"analysis: {request.reason}"
            )

    @workflow.query
    def get_status(self) -> OptimizationStatus:
        assert self._status is not None
        return self._status

    def _take_signalled(self, approval: Approval) -> None:
        # The first decision wins; a late or repeated one must not flip an approved run.
        refusal = self._refusal()
        if refusal is None:
            self._decision = approval.model_copy(update={"decided_at": workflow.now()})
        else:
            self._refuse(approval, refusal, via="signal")

    def _refusal(self) -> str | None:
        """Why a decision cannot be taken now, naming the one that won or the phase; None while waiting
        for one."""
        if self._decision is not None:
            return f"already {self._decision.described()}"
        phase = self._status.phase.value if self._status is not None else "starting"
        if phase != WorkflowPhase.PENDING_APPROVAL.value:
            return f"it is {phase}, not pending_approval"
        return None

    def _refusal_error(self, refusal: str) -> ApplicationError:
        winner = [] if self._decision is None else [self._decision]
        return ApplicationError(refusal, *winner, type=DECISION_REFUSED, non_retryable=True)

    def _refuse(self, approval: Approval, refusal: str, *, via: Literal["update", "signal"]) -> None:
        refused = RefusedDecision(
            approval=approval.model_copy(update={"decided_at": workflow.now()}), refusal=refusal, via=via
        )
        self._refused.append(refused)
        if self._status is not None:
            self._status.refused_decisions = list(self._refused)
        workflow.logger.warning(
            "refused %s by %s (%s): %s", approval.decision.value, approval.approver, via, refusal
        )

    # ---- main path ------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: OptimizationRequest) -> OptimizationStatus:
        self._request = request
        agent, mode = request.agent.value, request.mode.value
        own_metrics.optimization_started(agent=agent, mode=mode)
        try:
            status = await self._run(request)
        except (FailureError, asyncio.CancelledError) as ended:
            # Other exceptions fail the workflow task, which is retried: the run has not ended.
            outcome = "cancelled" if isinstance(ended, asyncio.CancelledError) else "errored"
            own_metrics.optimization_finished(agent=agent, mode=mode, type=self._type(), outcome=outcome)
            raise
        own_metrics.optimization_finished(
            agent=agent, mode=mode, type=self._type(), outcome=status.phase.value
        )
        return status

    def _type(self) -> str:
        recommendation = self._status.recommendation if self._status is not None else None
        return recommendation.type.value if recommendation is not None else own_metrics.NO_TYPE

    async def _run(self, request: OptimizationRequest) -> OptimizationStatus:
        self._status = OptimizationStatus(
            workflow_id=workflow.info().workflow_id,
            phase=WorkflowPhase.COLLECTING,
            refused_decisions=list(self._refused),  # e.g. a decision signalled with the start
        )
        self._publish()

        context: WorkloadContext = await self._activity(
            ActivityName.LOAD_WORKLOAD,
            WorkloadRef(customer_id=request.customer_id, workload_id=request.workload_id),
            WorkloadContext,
        )
        self._region = context.workload.region
        if request.mode is OptimizationMode.EXECUTE:
            if request.proposal is None:
                raise ApplicationError("execute mode needs the accepted proposal", non_retryable=True)
            self.status.context = dict(request.context)
            return await self._carry_out(context, request.proposal, [])
        received, analysis = await self._analyze(request, context)
        self._analyzed = True
        self.status.context = dict(analysis.context)
        self.status.notes = [
            f"asked by the {r.from_agent.value} agent ({r.source_workflow_id or 'joint'}): {r.reason}"
            for r in received
        ] + list(analysis.notes)
        proposals = await self._weigh_past_outcomes(analysis.proposals)
        if request.mode is OptimizationMode.PROPOSE:
            # The joint optimization decides what runs and delivers the requests itself.
            self.status.proposals = proposals
            self.status.requests = list(analysis.requests)
            self._set_phase(WorkflowPhase.PROPOSED if proposals else WorkflowPhase.NO_ACTION)
            return self.status
        await self._send_agent_requests(analysis.requests, received)
        if not proposals:
            self._set_phase(WorkflowPhase.NO_ACTION)
            return self.status
        return await self._carry_out(context, proposals[0], proposals[1:])

    async def _analyze(
        self, request: OptimizationRequest, context: WorkloadContext
    ) -> tuple[list[AgentRequest], AnalysisResult]:
        """Collect the workload's snapshot and run the agent's analyzers on it. Runs started before
        SNAPSHOT_BY_REFERENCE pass the snapshot itself from one activity to the next (hundreds of kilobytes
        in the history); later ones keep it in the database and pass its id."""
        scoped = context.model_copy(update={"agent": request.agent})
        if not workflow.patched(SNAPSHOT_BY_REFERENCE):
            snapshot: WorkloadSnapshot = await self._activity(
                ActivityName.COLLECT_SNAPSHOT, scoped, WorkloadSnapshot
            )
            if request.agent is AgentKind.APPLICATION:
                collected: ApplicationProfileResult = await self._activity(
                    ActivityName.COLLECT_APPLICATION_PROFILE, context, ApplicationProfileResult
                )
                snapshot = snapshot.model_copy(update={"application": collected.profile})
            self._set_phase(WorkflowPhase.ANALYZING)
            received = list(request.requests) + list(self._agent_requests)
            analysis: AnalysisResult = await self._activity(
                ActivityName.ANALYZE,
                AnalyzeInput(agent=request.agent, snapshot=snapshot, requests=received),
                AnalysisResult,
            )
            return received, analysis
        stored: StoredSnapshot = await self._activity(
            ActivityName.COLLECT_STORED_SNAPSHOT, scoped, StoredSnapshot
        )
        application = None
        if request.agent is AgentKind.APPLICATION:
            profiled: ApplicationProfileResult = await self._activity(
                ActivityName.COLLECT_APPLICATION_PROFILE, context, ApplicationProfileResult
            )
            application = profiled.profile
        self._set_phase(WorkflowPhase.ANALYZING)
        received = list(request.requests) + list(self._agent_requests)
        analysis = await self._activity(
            ActivityName.ANALYZE_STORED,
            AnalyzeStoredInput(
                agent=request.agent,
                snapshot_id=stored.snapshot_id,
                application=application,
                requests=received,
            ),
            AnalysisResult,
        )
        return received, analysis

    async def _carry_out(
        self, context: WorkloadContext, proposal: Proposal, alternatives: list[Proposal]
    ) -> OptimizationStatus:
        recommendation = self._recommendation_of(proposal, alternatives)
        recommendation.explanation = await self._explain(proposal)
        self.status.recommendation = recommendation
        self.status.alternatives = [p.title for p in alternatives]
        await self._activity(ActivityName.PERSIST_RECOMMENDATION, recommendation)

        gate = decide_gate(
            context.customer.automation,
            confidence=recommendation.confidence,
            risk=recommendation.risk_level,
            commits_spend=commits_spend(recommendation),
        )
        self.status.gate_reason = gate.reason
        if gate.needs_approval:
            approved = await self._await_approval(self.request)
            if not approved:
                return await self._finish(recommendation)
        else:
            await self._change_status(RecommendationStatus.APPROVED, reason=gate.reason)

        await self._execute_verify_finalize(recommendation, context)
        return await self._finish(recommendation)

    async def _send_agent_requests(
        self, outgoing_requests: list[AgentRequest], received: list[AgentRequest]
    ) -> None:
        """Deliver what the analysis asks of other agents, never back to an agent that asked this run
        (the loop ends after one exchange). A failed delivery is a note, not a failed optimization."""
        askers = {r.from_agent for r in received}
        for outgoing in outgoing_requests:
            if outgoing.to_agent in askers or outgoing.to_agent is self.request.agent:
                continue
            delivery = AgentRequestDelivery(
                customer_id=self.request.customer_id,
                workload_id=self.request.workload_id,
                request=outgoing.model_copy(
                    update={
                        "source_workflow_id": workflow.info().workflow_id,
                        "source_run_id": workflow.info().run_id,
                    }
                ),
                timing=self.request.timing,
            )
            try:
                receipt: AgentRequestReceipt = await self._activity(
                    ActivityName.SEND_AGENT_REQUEST,
                    delivery,
                    AgentRequestReceipt,
                    summary=f"ask the {outgoing.to_agent.value} agent: {outgoing.kind.value}",
                )
            except ActivityError as error:
                self.status.notes.append(f"could not ask the {outgoing.to_agent.value} agent: {error}")
                continue
            self.status.notes.append(
                f"asked the {outgoing.to_agent.value} agent ({outgoing.kind.value}, {receipt.workflow_id}): "
                f"{outgoing.reason}"
            )

    async def _weigh_past_outcomes(self, proposals: list[Proposal]) -> list[Proposal]:
        """Confidence moves with how similar past changes ended; without the outcome store the analysis's
        own confidence stands."""
        if not proposals:
            return proposals
        try:
            weighed: ConfidenceResult = await self._activity(
                ActivityName.ADJUST_CONFIDENCE,
                ConfidenceQuery(
                    customer_id=self.request.customer_id,
                    workload_id=self.request.workload_id,
                    context=self.status.context,
                    proposals=proposals,
                ),
                ConfidenceResult,
                summary="weigh similar past outcomes",
            )
        except ActivityError as error:
            self.status.notes.append(f"past outcomes not weighed: {error}")
            return proposals
        self.status.confidence_adjustments = weighed.adjustments
        return weighed.proposals

    async def _explain(self, proposal: Proposal) -> Explanation | None:
        """The person deciding reads this; without it the proposal's own reasoning still stands, so a
        failure here never stops the optimization."""
        try:
            explained: ExplainResult = await self._activity(
                ActivityName.EXPLAIN_PROPOSAL,
                ExplainRequest(customer_id=self.request.customer_id, proposal=proposal),
                ExplainResult,
                summary="explain the recommendation",
            )
        except ActivityError as error:
            workflow.logger.warning("no explanation: %s", error)
            return None
        return Explanation(**explained.explanation.model_dump(), written_by=explained.usage.written_by)

    async def _await_approval(self, request: OptimizationRequest) -> bool:
        await self._change_status(RecommendationStatus.PENDING_APPROVAL, reason=self.status.gate_reason)
        try:
            await workflow.wait_condition(
                lambda: self._decision is not None,
                timeout=timedelta(seconds=request.timing.approval_timeout_seconds),
                timeout_summary="approval window",
            )
        except TimeoutError:
            # A decision accepted in the activation that fired the timer was already answered as taken.
            if self._decision is None:
                await self._change_status(
                    RecommendationStatus.EXPIRED,
                    reason=f"no decision within {request.timing.approval_timeout_seconds}s",
                )
                return False
        decision = self._decision
        assert decision is not None
        self.status.approval = decision
        if decision.decision is DecisionKind.REJECT:
            await self._change_status(
                RecommendationStatus.REJECTED,
                reason=decision.reason,
                approval=decision,
                actor=decision.approver,
            )
            return False
        await self._change_status(
            RecommendationStatus.APPROVED, reason=decision.reason, approval=decision, actor=decision.approver
        )
        return True

    async def _execute_verify_finalize(
        self, recommendation: Recommendation, context: WorkloadContext
    ) -> None:
        approval = self.status.approval
        approved_by_person = approval is not None and approval.decision is DecisionKind.APPROVE
        if commits_spend(recommendation) and not approved_by_person:
            # The gate already routes purchases to a person; this refuses them even if it did not.
            raise ApplicationError("a purchase needs a person's approval", non_retryable=True)
        if not recommendation.steps:
            # Advice such as a model-routing rule: the application's owners carry it out, not a saga.
            await self._change_status(RecommendationStatus.EXECUTED, reason=ADVICE_ACCEPTED)
            return
        lock = WorkloadLock(
            customer_id=context.workload.customer_id,
            workload_id=context.workload.workload_id,
            holder=workflow.info().workflow_id,
            lease_seconds=self.request.timing.lock_lease_seconds(len(recommendation.steps)),
        )
        superseded = await self._take_lock(lock)
        if superseded is None:
            try:
                superseded = await self._preflight(recommendation, context)
                if superseded is None:
                    await self._apply_verify_finalize(recommendation)
            finally:
                # Shielded so that a cancelled run still lets the next optimization of the workload in.
                await asyncio.shield(
                    asyncio.ensure_future(self._activity(ActivityName.RELEASE_WORKLOAD_LOCK, lock))
                )
        if superseded is not None:
            self.status.failure_reason = superseded
            await self._change_status(RecommendationStatus.SUPERSEDED, reason=superseded)

    async def _take_lock(self, lock: WorkloadLock) -> str | None:
        """Waits while another optimization of the workload is changing it, up to the wait the timing sets
        (by default, until the holder's lease ends and the lock is taken over); why this one gives up or None
        once it holds the lock."""
        timing = self.request.timing
        waited = 0
        while True:
            answer: LockAnswer = await self._activity(ActivityName.ACQUIRE_WORKLOAD_LOCK, lock, LockAnswer)
            if answer.held_by is None:
                return None
            if timing.lock_wait_seconds is not None and waited >= timing.lock_wait_seconds:
                return (
                    f"another optimization of this workload ({answer.held_by}) was still changing it after "
                    f"{waited}s of waiting"
                )
            until = f" (its lease ends {answer.held_until:%Y-%m-%d %H:%M} UTC)" if answer.held_until else ""
            self.status.gate_reason = f"waiting for {answer.held_by}, which is changing this workload{until}"
            self._publish()
            await workflow.sleep(timedelta(seconds=timing.lock_poll_seconds), summary="wait for the workload")
            waited += timing.lock_poll_seconds

    async def _preflight(self, recommendation: Recommendation, context: WorkloadContext) -> str | None:
        """Why the recommendation no longer fits its objects (then no step runs), or None when it does."""
        reading: ObjectReading = await self._activity(ActivityName.READ_OBJECTS, context, ObjectReading)
        problems = unmet_preconditions(recommendation.steps, reading)
        if not problems:
            return None
        return "superseded: the workload changed since this was computed (" + "; ".join(problems) + ")"

    async def _apply_verify_finalize(self, recommendation: Recommendation) -> None:
        await self._change_status(RecommendationStatus.EXECUTING)
        apply_steps = [s for s in recommendation.steps if s.phase is StepPhase.APPLY]
        finalize_steps = [s for s in recommendation.steps if s.phase is StepPhase.FINALIZE]
        compensations: list[tuple[str, CompensationStep]] = []
        baseline = await self._measure_baseline()
        applied_at = workflow.now()
        try:
            for step in apply_steps:
                if step.compensation is not None:
                    compensations.append((step.step_id, step.compensation))
                await self._run_step(step)
            self._set_phase(WorkflowPhase.VERIFYING)
            await workflow.sleep(
                timedelta(seconds=self.request.timing.verify_delay_seconds), summary="settle before verifying"
            )
            verification: VerificationResult = await self._activity(
                ActivityName.VERIFY_KUBE if on_kubernetes(recommendation) else ActivityName.VERIFY,
                VerifyRequest(recommendation=recommendation, **self._account()),
                VerificationResult,
            )
            if not verification.passed:
                raise StepFailedError("verification failed: " + "; ".join(verification.problems))
            await self._watch_for_regression(recommendation, baseline, applied_at)
        except BaseException as failure:
            # Shielded so that a cancelled run still puts the fleet back before it ends.
            await asyncio.shield(asyncio.ensure_future(self._compensate(compensations, failure)))
            if isinstance(failure, StepFailedError | ActivityError):
                return
            raise
        for step in finalize_steps:
            try:
                await self._run_step(step)
            except StepFailedError as failure:
                # The change is in place and verified; a leftover instance is a cost, not an outage.
                self.status.failure_reason = f"finalize incomplete: {failure}"
                break
        await self._change_status(RecommendationStatus.EXECUTED, reason=self.status.failure_reason)

    async def _measure_baseline(self) -> ServingHealth | None:
        """The workload's serving before the change, which the regression watch compares with."""
        timing = self.request.timing
        if timing.regression_watch_seconds == 0:
            return None
        now = workflow.now()
        try:
            baseline: ServingHealth = await self._activity(
                ActivityName.MEASURE_SERVING_HEALTH,
                HealthRequest(
                    customer_id=self.request.customer_id,
                    workload_id=self.request.workload_id,
                    since=now - timedelta(seconds=timing.regression_baseline_seconds),
                    until=now,
                ),
                ServingHealth,
                summary="measure the baseline",
            )
        except ActivityError as error:
            self.status.notes.append(f"no regression watch: the baseline could not be measured: {error}")
            return None
        return baseline

    async def _watch_for_regression(
        self, recommendation: Recommendation, baseline: ServingHealth | None, applied_at: datetime
    ) -> None:
        """Compare the serving since the change with the baseline by the rules; a confirmed regression gets
        a root-cause note and fails the change, so its compensations put the workload back."""
        if baseline is None:
            return
        self._set_phase(WorkflowPhase.WATCHING)
        await workflow.sleep(
            timedelta(seconds=self.request.timing.regression_watch_seconds), summary="regression watch"
        )
        verdict: RegressionVerdict = await self._activity(
            ActivityName.CHECK_REGRESSION,
            RegressionCheck(
                baseline=baseline,
                since=applied_at,
                until=workflow.now(),
                thresholds=self.request.timing.regression_thresholds,
            ),
            RegressionVerdict,
            summary="compare with the baseline",
        )
        self.status.regression = verdict
        if not verdict.regressed:
            self.status.notes.append(f"regression watch: {verdict.summary}")
            return
        try:
            self.status.root_cause = await self._activity(
                ActivityName.EXPLAIN_REGRESSION,
                RootCauseRequest(
                    customer_id=self.request.customer_id, verdict=verdict, recent_change=recommendation
                ),
                RootCauseNote,
                summary="root cause of the regression",
            )
        except ActivityError as error:
            self.status.notes.append(f"no root-cause note: {error}")
        raise StepFailedError(f"regression after the change: {verdict.summary}")

    async def _announce(self, recommendation: Recommendation) -> None:
        """Tell the agent a completed change concerns (e.g. a spot migration -> Performance re-checks SLO
        risk), as a signal to its optimization of the workload."""
        announcement = ANNOUNCEMENTS.get(recommendation.type)
        if announcement is None:
            return
        kind, reason = announcement
        request = AgentRequest(
            kind=kind, from_agent=recommendation.agent, reason=f"{recommendation.title}: {reason}"
        )
        await self._send_agent_requests([request], [])

    async def _run_step(self, step: ExecutionStep) -> None:
        try:
            result: StepResult = await self._activity(
                ActivityName.EXECUTE_KUBE_STEP if step.action.on_kubernetes else ActivityName.EXECUTE_STEP,
                StepRequest(step=step, **self._account()),
                StepResult,
                summary=step.description,
                heartbeat=True,
            )
        except ActivityError as error:
            result = failed_step_result(step.step_id, step, error)
            await self._record_step(result)
            raise StepFailedError(
                f"step {step.step_id} ({step.description}) failed: {result.detail}"
            ) from error
        await self._record_step(result)

    async def _compensate(
        self, compensations: list[tuple[str, CompensationStep]], failure: BaseException
    ) -> None:
        reason = (
            str(failure) if isinstance(failure, StepFailedError) else f"{type(failure).__name__}: {failure}"
        )
        self.status.failure_reason = reason
        broken: list[str] = []
        for step_id, compensation in reversed(compensations):
            try:
                result: StepResult = await self._activity(
                    compensation_activity(compensation.action),
                    CompensationRequest(step_id=step_id, compensation=compensation, **self._account()),
                    StepResult,
                    summary=compensation.description,
                    heartbeat=True,
                )
            except ActivityError as error:
                result = failed_step_result(
                    f"compensate-{step_id}", compensation, error, StepStatus.COMPENSATION_FAILED
                )
                broken.append(f"{compensation.description}: {result.detail}")
            own_metrics.compensation_run(
                action=compensation.action.value,
                succeeded=result.status is not StepStatus.COMPENSATION_FAILED,
            )
            await self._record_step(result)
        if broken:
            self.status.failure_reason = f"{reason}; compensation incomplete: {'; '.join(broken)}"
            await self._change_status(RecommendationStatus.FAILED, reason=self.status.failure_reason)
        else:
            await self._change_status(RecommendationStatus.ROLLED_BACK, reason=reason)

    async def _finish(self, recommendation: Recommendation) -> OptimizationStatus:
        final = RecommendationStatus(self.status.phase.value)
        outcome = Outcome(
            recommendation_id=recommendation.recommendation_id,
            workflow_id=recommendation.workflow_id,
            status=final,
            approval=self.status.approval,
            step_results=self.status.step_results,
            verification_passed={
                RecommendationStatus.EXECUTED: True,
                RecommendationStatus.ROLLED_BACK: False,
            }.get(final),
            failure_reason=self.status.failure_reason,
            estimated_monthly_savings_usd=(
                recommendation.estimated_monthly_savings_usd
                if final is RecommendationStatus.EXECUTED
                else 0.0
            ),
            finished_at=workflow.now(),
        )
        await self._activity(ActivityName.RECORD_OUTCOME, outcome)
        if final is RecommendationStatus.EXECUTED:
            own_metrics.savings_executed(
                agent=recommendation.agent.value,
                type=recommendation.type.value,
                monthly_usd=outcome.estimated_monthly_savings_usd,
            )
        if final is not RecommendationStatus.SUPERSEDED:  # it says nothing of how such a change fares
            await self._learn(recommendation, final)
        if final is RecommendationStatus.EXECUTED:
            await self._announce(recommendation)
        return self.status

    async def _learn(self, recommendation: Recommendation, final: RecommendationStatus) -> None:
        """Store how the change ended, so similar later proposals are weighed by it. Learning is best
        effort: the outcome is already recorded in the store."""
        learned = learned_outcome(
            recommendation,
            status=final,
            context=self.status.context,
            verdict=self.status.regression,
            recorded_at=workflow.now(),
        )
        try:
            await self._activity(
                ActivityName.RECORD_LEARNED_OUTCOME, LearnedOutcomeRecord(outcome=learned), summary="learn"
            )
        except ActivityError as error:
            self.status.notes.append(f"outcome not learned: {error}")

    # ---- helpers --------------------------------------------------------------------------

    @property
    def status(self) -> OptimizationStatus:
        assert self._status is not None
        return self._status

    @property
    def request(self) -> OptimizationRequest:
        assert self._request is not None
        return self._request

    def _recommendation_of(self, best: Proposal, alternatives: list[Proposal]) -> Recommendation:
        reasoning = best.reasoning
        if alternatives:
            others = "; ".join(
                f"{p.title} (${p.estimated_monthly_savings_usd:,.0f}/month)" for p in alternatives
            )
            reasoning += f" Alternatives considered, not combined with this one: {others}."
        return Recommendation(
            **best.model_dump(exclude={"reasoning"}),
            reasoning=reasoning,
            recommendation_id=str(workflow.uuid4()),
            workflow_id=workflow.info().workflow_id,
            customer_id=self.request.customer_id,
            workload_id=self.request.workload_id,
            created_at=workflow.now(),
        )

    async def _record_step(self, result: StepResult) -> None:
        self.status.step_results.append(result)
        recommendation = self.status.recommendation
        assert recommendation is not None
        await self._activity(
            ActivityName.RECORD_STEP,
            StepRecord(recommendation_id=recommendation.recommendation_id, result=result),
        )

    async def _change_status(
        self,
        status: RecommendationStatus,
        *,
        reason: str | None = None,
        approval: Approval | None = None,
        actor: str | None = None,
    ) -> None:
        recommendation = self.status.recommendation
        assert recommendation is not None
        recommendation.status = status
        self._set_phase(WorkflowPhase(status.value))
        await self._activity(
            ActivityName.CHANGE_STATUS,
            StatusChange(
                recommendation_id=recommendation.recommendation_id,
                status=status,
                actor=actor or f"workflow:{workflow.info().workflow_id}",
                reason=reason,
                approval=approval,
            ),
        )

    def _account(self) -> dict[str, str | None]:
        """Whose account the cloud steps act in: the workload's customer, in the workload's region."""
        return {"customer_id": self.request.customer_id, "region": self._region}

    def _set_phase(self, phase: WorkflowPhase) -> None:
        workflow.logger.info("phase %s", phase.value)
        self.status.phase = phase
        self._publish()

    def _publish(self) -> None:
        """Keep the search attributes and the UI's details in step with the status."""
        recommendation = self.status.recommendation
        savings = recommendation.estimated_monthly_savings_usd if recommendation else 0.0
        workflow.upsert_search_attributes(
            [OPTI_STATUS.value_set(self.status.phase.value), OPTI_SAVINGS_USD.value_set(savings)]
        )
        lines = [f"**{self.status.phase.value}**"]
        if recommendation is not None:
            lines.append(
                f"{recommendation.title}: ${savings:,.0f}/month, risk {recommendation.risk_level.value}, "
                f"confidence {recommendation.confidence:.2f}"
            )
            lines.append(f"recommendation `{recommendation.recommendation_id}`")
        if self.status.gate_reason:
            lines.append(f"gate: {self.status.gate_reason}")
        if self.status.failure_reason:
            lines.append(f"failure: {self.status.failure_reason}")
        workflow.set_current_details("\n\n".join(lines))

    async def _activity(
        self,
        name: str,
        arg: Any,
        result_type: type | None = None,
        summary: str | None = None,
        heartbeat: bool = False,
    ) -> Any:
        return await call_activity(
            self.request.timing, name, arg, result_type, summary=summary, heartbeat=heartbeat
        )
