"""Coordination activities: find the conflicts between the agents' proposals and resolve them (by rules,
or jointly through the language-model layer when the customer asks for it, the rules answering whenever
the model cannot), and store them for `GET /v1/conflicts`."""

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.own_metrics import WorkerGauges
from activities.tenants import load_tenant, record_usage
from agents.coordination.conflicts import detect_conflicts
from agents.coordination.joint_reasoning import ResolveConflicts
from agents.coordination.resolution import plan_from_resolutions, resolve_by_rules
from agents.reasoning.layering import InferenceLayer
from optiinfra.domain.coordination import ResolutionMethod
from optiinfra.store.conflicts import record_conflicts
from workflows.contracts import ActivityName, ConflictRecord, CoordinationRequest, CoordinationResult


class CoordinationActivities:
    def __init__(
        self,
        layer: InferenceLayer,
        sessions: async_sessionmaker[AsyncSession],
        *,
        gauges: WorkerGauges | None = None,
    ) -> None:
        self._layer = layer
        self._sessions = sessions
        self._gauges = gauges or WorkerGauges.none()

    @activity.defn(name=ActivityName.COORDINATE)
    async def coordinate_proposals(self, request: CoordinationRequest) -> CoordinationResult:
        conflicts = detect_conflicts(request.candidates)
        plan = resolve_by_rules(request.candidates, conflicts, request.constraints, request.slo_compliance)
        notes = list(plan.notes)
        if conflicts and request.constraints.joint_reasoning:
            task = ResolveConflicts(
                request.candidates, conflicts, plan.resolutions, request.constraints, request.slo_compliance
            )
            tenant = await load_tenant(self._sessions, request.customer_id)
            inference = await self._layer.answer(task, tenant=tenant)
            self._gauges.breakers_of(self._layer)
            await record_usage(self._sessions, request.customer_id, inference.usage)
            usage = inference.usage
            if usage.fell_back_to_rules or not usage.model:
                notes.append(f"joint reasoning fell back to the priority rules: {usage.reason or 'no model'}")
            else:
                joint = plan_from_resolutions(
                    request.candidates,
                    conflicts,
                    inference.answer.resolutions(
                        conflicts, ResolutionMethod.JOINT_REASONING, usage.written_by
                    ),
                    request.constraints,
                    request.slo_compliance,
                )
                if isinstance(joint, str):  # validated in the graph already; kept as a last guard
                    notes.append(f"joint reasoning's plan refused ({joint}); the priority rules decide")
                else:
                    plan = joint
        return CoordinationResult(
            conflicts=conflicts, resolutions=plan.resolutions, accepted=plan.accepted, notes=notes
        )

    @activity.defn(name=ActivityName.RECORD_CONFLICTS)
    async def record_conflicts(self, record: ConflictRecord) -> None:
        async with self._sessions.begin() as session:
            await record_conflicts(session=session, record=record)
