"""Relational schema of the store. Column types are generic so one schema serves SQLite and PostgreSQL;
enums are stored as their string values so adding a member never needs a migration.

The schema itself is created by Alembic (`optiinfra/store/migrations`); these classes describe it for
the repository and must stay identical to what the migrations build (a test compares the two)."""

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    ForeignKeyConstraint,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID_LENGTH = 64
WORKFLOW_ID_LENGTH = 255
NAME_LENGTH = 255
ENUM_LENGTH = 32
LABEL_LENGTH = 128  # a model or request-type name, or a client's request id (privacy.records.Identifier)

# Deterministic constraint names, so migrations can refer to (and later drop) them on every backend.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware timestamp that always reads back in UTC.

    SQLite has no timezone type and returns naive values; PostgreSQL returns the session's zone.
    Normalising here means the domain never sees a naive or non-UTC datetime from the store."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return _as_utc(value)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return _as_utc(value)


def _as_utc(value: datetime) -> datetime:
    """Naive values are taken to be UTC already (that is how SQLite hands them back)."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def utc_now() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {
        datetime: UtcDateTime(),
        dict[str, Any]: JSON(),
        list[Any]: JSON(),
        float: Float(),
    }


class CustomerRow(Base):
    __tablename__ = "customers"

    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    operating_mode: Mapped[str] = mapped_column(String(ENUM_LENGTH))
    auto_execute_min_confidence: Mapped[float]
    auto_execute_max_risk: Mapped[str] = mapped_column(String(ENUM_LENGTH))
    budget_max_gpus: Mapped[int | None]
    budget_max_monthly_usd: Mapped[float | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class WorkloadRow(Base):
    __tablename__ = "workloads"

    customer_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("customers.customer_id", ondelete="CASCADE"), primary_key=True
    )
    workload_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    name: Mapped[str] = mapped_column(Text)
    model_name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    region: Mapped[str] = mapped_column(String(ID_LENGTH))
    stateless: Mapped[bool]
    critical: Mapped[bool]
    min_on_demand_instances: Mapped[int]
    slo_ttft_p95_s: Mapped[float | None]
    slo_itl_p95_s: Mapped[float | None]
    kube_namespace: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    kube_deployment: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    request_routing: Mapped[str] = mapped_column(String(ENUM_LENGTH), default="round_robin")
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class WorkflowRunRow(Base):
    """One numbered run of an agent on a workload; the unique key makes run numbers race-safe."""

    __tablename__ = "workflow_runs"
    __table_args__ = (UniqueConstraint("customer_id", "workload_id", "agent", "run_number"),)

    workflow_id: Mapped[str] = mapped_column(String(WORKFLOW_ID_LENGTH), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    workload_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    agent: Mapped[str] = mapped_column(String(ENUM_LENGTH))
    run_number: Mapped[int]
    started_at: Mapped[datetime] = mapped_column(default=utc_now)


class RecommendationRow(Base):
    __tablename__ = "recommendations"
    # The API's list: one customer's recommendations, newest first.
    __table_args__ = (Index("ix_recommendations_customer_id_created_at", "customer_id", "created_at"),)

    recommendation_id: Mapped[str] = mapped_column(String(WORKFLOW_ID_LENGTH), primary_key=True)
    workflow_id: Mapped[str] = mapped_column(String(WORKFLOW_ID_LENGTH), unique=True)
    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), index=True)
    workload_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    agent: Mapped[str] = mapped_column(String(ENUM_LENGTH))
    type: Mapped[str] = mapped_column(String(ENUM_LENGTH))
    status: Mapped[str] = mapped_column(String(ENUM_LENGTH), index=True)
    title: Mapped[str] = mapped_column(Text)
    reasoning: Mapped[str] = mapped_column(Text)
    estimated_monthly_savings_usd: Mapped[float]
    current_monthly_cost_usd: Mapped[float]
    projected_monthly_cost_usd: Mapped[float]
    confidence: Mapped[float]
    risk_level: Mapped[str] = mapped_column(String(ENUM_LENGTH))
    steps: Mapped[list[Any]]
    evidence: Mapped[dict[str, Any]]
    explanation: Mapped[dict[str, Any] | None]
    approval: Mapped[dict[str, Any] | None]
    outcome: Mapped[dict[str, Any] | None]
    status_reason: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class ExecutionRow(Base):
    """A step result. The unique key makes recording the same result twice (activity retry) a no-op."""

    __tablename__ = "executions"
    __table_args__ = (UniqueConstraint("workflow_id", "step_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    recommendation_id: Mapped[str] = mapped_column(
        String(WORKFLOW_ID_LENGTH),
        ForeignKey("recommendations.recommendation_id", ondelete="CASCADE"),
        index=True,
    )
    workflow_id: Mapped[str] = mapped_column(String(WORKFLOW_ID_LENGTH))
    step_id: Mapped[str] = mapped_column(String(NAME_LENGTH))
    action: Mapped[str] = mapped_column(String(ENUM_LENGTH))
    target: Mapped[str] = mapped_column(String(NAME_LENGTH))
    status: Mapped[str] = mapped_column(String(ENUM_LENGTH))
    detail: Mapped[str] = mapped_column(Text)
    resource_ids: Mapped[list[Any]]
    finished_at: Mapped[datetime]


class AuditRow(Base):
    """Who did what, when; `customer_id` scopes a line to a tenant (None: the platform's own, e.g. a
    platform key); `before`/`after` hold the changed object's state when the write replaced one."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_customer_id_id", "customer_id", "id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(default=utc_now)
    actor: Mapped[str] = mapped_column(String(NAME_LENGTH))
    action: Mapped[str] = mapped_column(String(NAME_LENGTH))
    subject: Mapped[str] = mapped_column(String(WORKFLOW_ID_LENGTH), index=True)
    detail: Mapped[dict[str, Any]]
    customer_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class IdentityProviderRow(Base):
    """A customer's OIDC identity provider: tokens whose `iss` is `issuer` act for this customer."""

    __tablename__ = "identity_providers"

    customer_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("customers.customer_id", ondelete="CASCADE"), primary_key=True
    )
    issuer: Mapped[str] = mapped_column(String(512), unique=True)
    audience: Mapped[str] = mapped_column(String(NAME_LENGTH))
    jwks_url: Mapped[str] = mapped_column(Text)
    role_claim: Mapped[str] = mapped_column(String(ID_LENGTH))
    default_role: Mapped[str | None] = mapped_column(String(ENUM_LENGTH))
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class CustomerConnectionRow(Base):
    """A customer's connections: the spec in the clear, the secrets sealed together (envelope encryption,
    `optiinfra.connections.envelope`) with the names of those set kept beside them."""

    __tablename__ = "customer_connections"

    customer_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("customers.customer_id", ondelete="CASCADE"), primary_key=True
    )
    spec: Mapped[dict[str, Any]]
    secrets_set: Mapped[list[Any]]
    key_ref: Mapped[str | None] = mapped_column(String(NAME_LENGTH))
    wrapped_key: Mapped[bytes | None] = mapped_column(LargeBinary)
    ciphertext: Mapped[bytes | None] = mapped_column(LargeBinary)
    updated_at: Mapped[datetime] = mapped_column(default=utc_now)


class ApiKeyRow(Base):
    """An API key: the secret's hash only. `customer_id` None: a platform key (CLI-made only)."""

    __tablename__ = "api_keys"

    key_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    customer_id: Mapped[str | None] = mapped_column(
        String(ID_LENGTH), ForeignKey("customers.customer_id", ondelete="CASCADE"), index=True
    )
    role: Mapped[str] = mapped_column(String(ENUM_LENGTH))
    name: Mapped[str] = mapped_column(String(NAME_LENGTH))
    secret_hash: Mapped[str] = mapped_column(String(ID_LENGTH))
    created_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    created_at: Mapped[datetime] = mapped_column(default=utc_now)
    expires_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class LlmUsageRow(Base):
    """One reasoning answer given to a workflow: which tier, the tokens billed and their cost over all its
    model calls (repairs included), and why the rules answered if they did. Summed per customer and UTC
    day for the language-model budget."""

    __tablename__ = "llm_usage"
    __table_args__ = (Index("ix_llm_usage_customer_id_created_at", "customer_id", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    workflow_id: Mapped[str] = mapped_column(String(WORKFLOW_ID_LENGTH), index=True)
    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    task: Mapped[str] = mapped_column(String(NAME_LENGTH))
    tier: Mapped[str] = mapped_column(String(ENUM_LENGTH))
    model: Mapped[str] = mapped_column(String(NAME_LENGTH))
    prompt_tokens: Mapped[int]
    completion_tokens: Mapped[int]
    cost_usd: Mapped[float]
    calls: Mapped[int] = mapped_column(default=0, server_default="0")
    repairs: Mapped[int] = mapped_column(default=0, server_default="0")
    cached: Mapped[bool]
    fell_back: Mapped[bool]
    reason: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class ConflictRow(Base):
    """A conflict a joint optimization found between two agents' proposals, and how it was resolved."""

    __tablename__ = "conflicts"
    __table_args__ = (Index("ix_conflicts_customer_id_workload_id", "customer_id", "workload_id"),)

    joint_workflow_id: Mapped[str] = mapped_column(String(WORKFLOW_ID_LENGTH), primary_key=True)
    conflict_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    workload_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(ENUM_LENGTH))
    conflict: Mapped[dict[str, Any]]
    resolution: Mapped[dict[str, Any] | None]
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)


class CapacityProfileRow(Base):
    """A measured latency/throughput curve of one deployment (GPU x model x TP), the workload's own or
    shared by the customer's workloads on it (workload_id empty)."""

    __tablename__ = "capacity_profiles"
    __table_args__ = (Index("ix_capacity_profiles_customer_id_gpu_model", "customer_id", "gpu", "model"),)

    profile_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    workload_id: Mapped[str | None] = mapped_column(String(ID_LENGTH))
    gpu: Mapped[str] = mapped_column(String(ID_LENGTH))
    model: Mapped[str] = mapped_column(String(128))
    tp: Mapped[int]
    tool: Mapped[str] = mapped_column(String(ID_LENGTH))
    profile: Mapped[dict[str, Any]]
    created_at: Mapped[datetime] = mapped_column(default=utc_now)


class WorkloadLockRow(Base):
    """The one optimization of a workload that is changing it right now (its workflow id), so a second one
    waits instead of acting on objects the first is changing. Released when the first finishes; a lock
    past the lease its holder stated is taken over (its holder was terminated without releasing it)."""

    __tablename__ = "workload_locks"

    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    workload_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    holder_workflow_id: Mapped[str] = mapped_column(String(WORKFLOW_ID_LENGTH))
    acquired_at: Mapped[datetime] = mapped_column(default=utc_now)
    lease_until: Mapped[datetime]


class StoredPayloadRow(Base):
    """A workflow's large input or result (a workload snapshot with its metric series), kept here so that
    the workflow's history carries only its id: gzip-compressed JSON, kept for a retention period."""

    __tablename__ = "stored_payloads"

    payload_id: Mapped[str] = mapped_column(String(ID_LENGTH), primary_key=True)
    kind: Mapped[str] = mapped_column(String(ENUM_LENGTH))
    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    size_bytes: Mapped[int]
    body: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utc_now, index=True)


# Privacy tiers (optiinfra.privacy): one table per tier, so what a reader may see is a matter of which
# table its queries name. Rows belong to a registered workload and go when it (or its customer) goes.


def _workload_key() -> ForeignKeyConstraint:
    return ForeignKeyConstraint(
        ["customer_id", "workload_id"],
        ["workloads.customer_id", "workloads.workload_id"],
        ondelete="CASCADE",
    )


class CustomerPrivacyRow(Base):
    """A customer's privacy tier, and who set it when. No row means tier 1."""

    __tablename__ = "customer_privacy"

    customer_id: Mapped[str] = mapped_column(
        String(ID_LENGTH), ForeignKey("customers.customer_id", ondelete="CASCADE"), primary_key=True
    )
    tier: Mapped[int]
    changed_by: Mapped[str] = mapped_column(String(NAME_LENGTH))
    changed_at: Mapped[datetime]
    reason: Mapped[str] = mapped_column(Text)


class RequestLogRow(Base):
    """Tier 1: one request as numbers, timestamps and short identifiers. No column can hold text."""

    __tablename__ = "request_log"
    __table_args__ = (
        _workload_key(),
        Index("ix_request_log_customer_id_workload_id_at", "customer_id", "workload_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    workload_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    at: Mapped[datetime]
    model: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    request_type: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    context_tokens: Mapped[int]
    generated_tokens: Mapped[int]
    latency_s: Mapped[float | None]
    ttft_s: Mapped[float | None]
    error: Mapped[str | None] = mapped_column(String(ENUM_LENGTH))


class QualityComparisonRow(Base):
    """Tier 1: one request of a routing quality sample, the cheaper model's answer judged against the current
    model's. No column can hold text."""

    __tablename__ = "quality_comparisons"
    __table_args__ = (
        _workload_key(),
        Index("ix_quality_comparisons_customer_id_workload_id_at", "customer_id", "workload_id", "at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    workload_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    at: Mapped[datetime]
    request_type: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    context_tokens: Mapped[int]
    cheap_model: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    verdict: Mapped[str] = mapped_column(String(ENUM_LENGTH))


class RequestAggregateRow(Base):
    """Tier 2: statistics of one request type over one period (`stats` is the aggregate's model_dump).
    Sending the same kind, request type and period again replaces the statistics."""

    __tablename__ = "request_aggregates"
    __table_args__ = (
        _workload_key(),
        UniqueConstraint(
            "customer_id",
            "workload_id",
            "kind",
            "request_type",
            "period_start",
            "period_end",
            name="uq_request_aggregates_period",
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    workload_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    kind: Mapped[str] = mapped_column(String(ENUM_LENGTH))
    request_type: Mapped[str] = mapped_column(String(LABEL_LENGTH))
    period_start: Mapped[datetime]
    period_end: Mapped[datetime]
    stats: Mapped[dict[str, Any]]


class PromptVaultRow(Base):
    """Tier 3: one request's prompt and completion as a Fernet token; the plaintext is never stored."""

    __tablename__ = "prompt_vault"
    __table_args__ = (_workload_key(), UniqueConstraint("customer_id", "workload_id", "request_ref"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    customer_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    workload_id: Mapped[str] = mapped_column(String(ID_LENGTH))
    request_ref: Mapped[str] = mapped_column(String(LABEL_LENGTH), doc="The client's id of the request")
    at: Mapped[datetime]
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    stored_at: Mapped[datetime] = mapped_column(default=utc_now)
