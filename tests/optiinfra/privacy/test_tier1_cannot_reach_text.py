"""Proof that the tier-1 path cannot obtain prompt text, not merely that it does not:

- every type it can return is, recursively, numbers, timestamps, closed vocabularies or identifiers that
  cannot hold whitespace (checked by introspection, so a text field added later fails here);
- its record type refuses extra fields and free text, however it is made;
- a tier-1 view holds only a customer id and a session factory (no key, no settings), and the SQL it runs
  names no table but request_log and quality_comparisons (tier-1 records both);
- on a store holding prompt content, nothing it returns contains any of it;
- a tier-1 customer gets no view that could read content, and content is not stored for it."""

import types
import typing
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from enum import Enum
from typing import Annotated, Any, Union

import pytest
from pydantic import BaseModel, TypeAdapter, ValidationError
from sqlalchemy import Connection, LargeBinary, String, Text, event, insert
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker
from sqlalchemy.types import JSON

from optiinfra.privacy import tier1
from optiinfra.privacy.crypto import PromptCipher
from optiinfra.privacy.errors import TierNotAllowedError
from optiinfra.privacy.records import QualityComparison, QualityVerdict, TokenRecord
from optiinfra.privacy.tier1 import (
    QUALITY_COMPARISON_COLUMNS,
    TOKEN_RECORD_COLUMNS,
    Tier1View,
    record_quality_comparisons,
    record_token_records,
)
from optiinfra.privacy.tier2 import Tier2View, record_aggregates
from optiinfra.privacy.tier3 import PromptContent, Tier3View, store_prompt_contents
from optiinfra.privacy.tiers import PrivacyTier
from optiinfra.privacy.views import open_view
from optiinfra.settings import Settings
from optiinfra.store import repository
from optiinfra.store.tables import (
    Base,
    PromptVaultRow,
    QualityComparisonRow,
    RequestAggregateRow,
    RequestLogRow,
)
from tests.optiinfra.privacy import data

NUMERIC_LEAVES = (int, float, datetime, type(None))  # bool is an int
MAX_IDENTIFIER_LENGTH = 128
# Strings a text-capable field would accept and an identifier must refuse.
TEXT_PROBES = ("two words", "line\nbreak", "tab\there", "trailing\n", "x" * (MAX_IDENTIFIER_LENGTH + 1))
DAY = timedelta(days=1)


# Type introspection


def text_capable_parts(annotation: Any, where: str, metadata: Sequence[Any] = ()) -> Iterator[str]:
    """The places in `annotation` (recursively through models, containers and unions) whose values could
    hold free text: a str without a whitespace-refusing, length-bounded pattern, or any other type that
    is not a number, a timestamp or a closed vocabulary."""
    origin = typing.get_origin(annotation)
    if origin is Annotated:
        base, *extra = typing.get_args(annotation)
        yield from text_capable_parts(base, where, [*metadata, *extra])
    elif origin in (Union, types.UnionType):
        for arg in typing.get_args(annotation):
            yield from text_capable_parts(arg, where, metadata)
    elif origin in (list, tuple, set, frozenset, dict):
        for arg in typing.get_args(annotation):
            if arg is not Ellipsis:
                yield from text_capable_parts(arg, f"{where}[]", ())
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        for name, field in annotation.model_fields.items():
            yield from text_capable_parts(field.annotation, f"{where}.{name}", field.metadata)
    elif isinstance(annotation, type) and issubclass(annotation, Enum):
        if any(isinstance(member.value, str) and not member.value.isidentifier() for member in annotation):
            yield f"{where}: enum {annotation.__name__} has a value that is not an identifier"
    elif annotation is str:
        if not _refuses_text(metadata):
            yield f"{where}: str accepting whitespace or more than {MAX_IDENTIFIER_LENGTH} characters"
    elif not (isinstance(annotation, type) and issubclass(annotation, NUMERIC_LEAVES)):
        yield f"{where}: {annotation!r} is neither a number, a timestamp nor a closed vocabulary"


def _refuses_text(metadata: Sequence[Any]) -> bool:
    if not any(getattr(constraint, "pattern", None) for constraint in metadata):
        return False
    adapter: TypeAdapter[str] = TypeAdapter(Annotated[str, *metadata])
    for probe in TEXT_PROBES:
        try:
            adapter.validate_python(probe)
        except ValidationError:
            continue
        return False
    return True


def public_surface(view_type: type[Tier1View]) -> dict[str, Any]:
    """What a holder of a view can reach: the return type of each public method, the type of each value."""
    surface: dict[str, Any] = {}
    for name in dir(view_type):
        if name.startswith("_"):
            continue
        member = getattr(view_type, name)
        surface[name] = typing.get_type_hints(member)["return"] if callable(member) else type(member)
    return surface


@pytest.mark.parametrize("record", [TokenRecord, QualityComparison])
def test_every_field_of_the_tier_1_records_is_a_number_a_timestamp_or_an_identifier(
    record: type[BaseModel],
) -> None:
    assert list(text_capable_parts(record, record.__name__)) == []


@pytest.mark.parametrize("view_type", [Tier1View, Tier2View])
def test_nothing_the_tier_1_and_2_views_return_can_hold_text(view_type: type[Tier1View]) -> None:
    surface = public_surface(view_type)
    assert {"token_records", "quality_comparisons"} <= set(surface)
    problems = [problem for name, kind in surface.items() for problem in text_capable_parts(kind, name)]
    assert problems == []


def test_the_introspection_does_find_text() -> None:
    """The check above would pass vacuously if it could not see text; here it must."""

    class Leaky(BaseModel):
        note: str
        tags: dict[str, int]
        blob: bytes
        anything: Any

    found = list(text_capable_parts(Leaky, "Leaky"))
    assert [problem.split(":")[0] for problem in found] == [
        "Leaky.note",
        "Leaky.tags[]",
        "Leaky.blob",
        "Leaky.anything",
    ]
    assert any(
        problem.startswith("prompt_contents")
        for name, kind in public_surface(Tier3View).items()
        for problem in text_capable_parts(kind, name)
    )


@pytest.mark.parametrize(
    ("table_name", "columns", "record"),
    [
        ("request_log", TOKEN_RECORD_COLUMNS, TokenRecord),
        ("quality_comparisons", QUALITY_COMPARISON_COLUMNS, QualityComparison),
    ],
)
def test_the_tier_1_tables_have_no_column_that_can_hold_text(
    table_name: str, columns: tuple[Any, ...], record: type[BaseModel]
) -> None:
    table = Base.metadata.tables[table_name]
    for column in table.columns:
        assert not isinstance(column.type, Text | LargeBinary | JSON), column.name
        if isinstance(column.type, String):
            assert column.type.length is not None
            assert column.type.length <= MAX_IDENTIFIER_LENGTH, column.name
    assert {column.key for column in columns} == set(record.model_fields)
    assert {column.table.name for column in columns} == {table_name}


# The record refuses text however it is made


@pytest.mark.parametrize(
    "changes",
    [
        {"prompt": data.SECRET_PROMPTS[0]},
        {"completion": data.SECRET_COMPLETION},
        {"model": data.SECRET_PROMPTS[0]},
        {"request_type": "summarise the memo"},
        {"request_type": "no-spaces-but-far-too-long-" + "x" * 120},
        {"model": "llama\n" + data.SECRET_PROMPTS[1]},
        {"error": "upstream said: " + data.SECRET_PROMPTS[0]},
    ],
)
def test_a_token_record_cannot_be_built_with_text(changes: dict[str, object]) -> None:
    with pytest.raises(ValidationError) as raised:
        data.token_record(0, **changes)
    assert {str(error["loc"][0]) for error in raised.value.errors()} == set(changes)


def test_a_token_record_cannot_be_given_text_after_it_is_made() -> None:
    record = data.token_record(0)
    with pytest.raises(ValidationError, match="frozen"):
        record.model = "free text"  # type: ignore[misc]


async def test_an_unvalidated_token_record_with_text_is_refused_by_the_log(
    sessions: async_sessionmaker[Any],
) -> None:
    smuggled = TokenRecord.model_construct(
        **{**data.token_record(0).model_dump(), "model": data.SECRET_PROMPTS[0]}
    )
    with pytest.raises(ValidationError):
        async with sessions.begin() as session:
            await record_token_records(
                session=session, customer_id="acme", workload_id="chat", records=[smuggled]
            )
    assert await data.count_rows(sessions, "request_log") == 0


async def test_text_written_into_the_tier_1_table_behind_its_back_is_not_returned(
    sessions: async_sessionmaker[Any],
) -> None:
    """Even a row that bypassed the writer cannot come out of the tier-1 view as text."""
    row = {
        "customer_id": "acme",
        "workload_id": "chat",
        "at": data.T0,
        "model": "summarise the memo",
        "request_type": "default",
        "context_tokens": 1,
        "generated_tokens": 1,
    }
    async with sessions.begin() as session:
        await session.execute(insert(RequestLogRow).values(row))
    with pytest.raises(ValidationError):
        await Tier1View(customer_id="acme", sessions=sessions).token_records(
            "chat", data.T0 - DAY, data.T0 + DAY
        )


# What a tier-1 view holds and what it asks the store


def test_a_tier_1_view_holds_a_customer_id_and_a_session_factory_only(
    sessions: async_sessionmaker[Any], engine: AsyncEngine
) -> None:
    view = Tier1View(customer_id="acme", sessions=sessions)
    assert not hasattr(view, "__dict__")  # slots only: nothing can be attached to it later
    held = {slot: getattr(view, slot) for cls in type(view).__mro__ for slot in getattr(cls, "__slots__", ())}
    assert held == {"_customer_id": "acme", "_sessions": sessions}
    assert sessions.kw == {"bind": engine, "autoflush": True, "expire_on_commit": False}
    assert "acme" in repr(view)


def test_the_tier_1_module_can_name_no_key_and_no_other_tier_table() -> None:
    reachable = list(vars(tier1).values())
    assert any(value is QualityComparisonRow for value in reachable)
    for forbidden in (PromptVaultRow, RequestAggregateRow, PromptCipher, Settings):
        assert all(value is not forbidden for value in reachable), forbidden
    assert not any(isinstance(value, types.ModuleType) for value in reachable)


def _comparison() -> QualityComparison:
    return QualityComparison(
        at=data.T0,
        request_type="support-chat",
        context_tokens=900,
        cheap_model="meta-llama/Llama-3.2-3B-Instruct",
        verdict=QualityVerdict.NO_WORSE,
    )


async def _store_every_tier(sessions: async_sessionmaker[Any], cipher: PromptCipher) -> None:
    """acme and globex in tier 3, each with records, aggregates and prompt content on both workloads."""
    for customer_id in ("acme", "globex"):
        await data.set_tier(sessions, customer_id, PrivacyTier.CONTENT)
        async with sessions.begin() as session:
            for workload_id in ("chat", "batch"):
                await record_token_records(
                    session=session,
                    customer_id=customer_id,
                    workload_id=workload_id,
                    records=[data.token_record(0), data.failed_record(5)],
                )
                await record_quality_comparisons(
                    session=session,
                    customer_id=customer_id,
                    workload_id=workload_id,
                    comparisons=[_comparison()],
                )
                await record_aggregates(
                    session=session,
                    customer_id=customer_id,
                    workload_id=workload_id,
                    aggregates=[data.rag_stats(), data.prompt_structure()],
                )
                await store_prompt_contents(
                    session=session,
                    cipher=cipher,
                    customer_id=customer_id,
                    workload_id=workload_id,
                    contents=data.prompts(),
                    actor="ingest",
                )


async def test_on_a_store_full_of_prompts_the_tier_1_view_returns_none_of_them(
    sessions: async_sessionmaker[Any], engine: AsyncEngine, cipher: PromptCipher
) -> None:
    await _store_every_tier(sessions, cipher)
    assert await data.count_rows(sessions, "prompt_vault") == 8
    view = Tier1View(customer_id="acme", sessions=sessions)

    statements: list[str] = []

    def capture(_conn: Connection, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", capture)
    try:
        outputs = [
            await getattr(view, name)(workload_id, data.T0 - DAY, data.T0 + DAY)
            for name in public_surface(Tier1View)
            if callable(getattr(view, name))
            for workload_id in ("chat", "batch")
        ]
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", capture)

    assert outputs == [[_comparison()]] * 2 + [[data.token_record(0), data.failed_record(5)]] * 2
    everything = (
        repr(outputs)
        + "".join(record.model_dump_json() for output in outputs for record in output)
        + repr(view)
    )
    for secret in (*data.SECRET_PROMPTS, data.SECRET_COMPLETION, *data.SECRET_WORDS):
        assert secret not in everything
    queries = [statement for statement in statements if "SELECT" in statement.upper()]
    assert len(queries) == 4
    for query in queries:
        assert ("request_log" in query) != ("quality_comparisons" in query)
        for other in ("prompt_vault", "request_aggregates", "customer_privacy", "audit_log"):
            assert other not in query


# A tier-1 customer gets no way to content


async def test_a_tier_1_customer_gets_a_tier_1_view_and_no_content_is_stored_for_it(
    sessions: async_sessionmaker[Any], settings: Settings, cipher: PromptCipher
) -> None:
    view = await open_view(sessions=sessions, customer_id="acme", settings=settings)
    assert type(view) is Tier1View
    assert not hasattr(view, "prompt_contents")
    assert not hasattr(view, "_cipher")

    for tier in (PrivacyTier.METRICS_ONLY, PrivacyTier.AGGREGATES):
        await data.set_tier(sessions, "acme", tier)
        with pytest.raises(TierNotAllowedError, match="storing prompt content needs tier 3"):
            async with sessions.begin() as session:
                await store_prompt_contents(
                    session=session,
                    cipher=cipher,
                    customer_id="acme",
                    workload_id="chat",
                    contents=data.prompts(),
                    actor="ingest",
                )
    assert await data.count_rows(sessions, "prompt_vault") == 0
    assert type(await open_view(sessions=sessions, customer_id="acme", settings=settings)) is Tier2View


async def test_a_content_view_made_by_hand_for_a_tier_1_customer_reads_nothing(
    sessions: async_sessionmaker[Any], cipher: PromptCipher
) -> None:
    """The tier recorded now decides, not the type of the object: a Tier3View built for a customer who
    is in tier 1 (or who left tier 3 after the view was opened) is refused, and nothing is audited as read."""
    await _store_every_tier(sessions, cipher)
    await data.set_tier(sessions, "globex", PrivacyTier.METRICS_ONLY)
    view = Tier3View(customer_id="globex", sessions=sessions, cipher=cipher)
    with pytest.raises(TierNotAllowedError, match="reading prompt content needs tier 3"):
        await view.prompt_contents("chat", request_refs=["req-1"], actor="analyst", purpose="curiosity")
    with pytest.raises(TierNotAllowedError, match="reading aggregated statistics needs tier 2"):
        await view.rag_stats("chat", data.T0 - DAY, data.T0 + DAY)
    async with sessions() as session:
        audit = await repository.list_audit(session=session, subject="globex/chat")
    assert [entry.action for entry in audit] == ["prompt_content.written"]


def test_prompt_content_is_a_different_type_from_the_tier_1_record() -> None:
    """The one type that carries text is not a TokenRecord and cannot be turned into one."""
    content = data.prompts()[0]
    assert not issubclass(PromptContent, TokenRecord)
    with pytest.raises(ValidationError):
        TokenRecord.model_validate(content.model_dump())
