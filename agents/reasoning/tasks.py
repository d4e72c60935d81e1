"""What a reasoning task gives the inference layer: the kind of thinking it needs (which decides the
tier), the messages for a model, the answer's schema, and the rule tier's own answer."""

from abc import ABC, abstractmethod
from enum import StrEnum
from typing import ClassVar, Generic, TypeVar

from pydantic import BaseModel

from optiinfra.llm.chat import ChatMessage
from optiinfra.llm.tiers import InferenceTier
from optiinfra.privacy.tiers import PrivacyTier

AnswerT = TypeVar("AnswerT", bound=BaseModel)


class TaskKind(StrEnum):
    CLASSIFICATION = "classification"
    PARSING = "parsing"
    SUMMARY = "summary"
    EXPLANATION = "explanation"
    ROOT_CAUSE = "root_cause"
    JOINT_RESOLUTION = "joint_resolution"

    @property
    def smallest_fitting_tier(self) -> InferenceTier:
        return _SMALLEST_FITTING_TIER[self]


_SMALLEST_FITTING_TIER = {
    TaskKind.CLASSIFICATION: InferenceTier.SMALL,
    TaskKind.PARSING: InferenceTier.SMALL,
    TaskKind.SUMMARY: InferenceTier.MEDIUM,
    TaskKind.EXPLANATION: InferenceTier.MEDIUM,
    TaskKind.ROOT_CAUSE: InferenceTier.FRONTIER,
    TaskKind.JOINT_RESOLUTION: InferenceTier.FRONTIER,
}


class ReasoningTask(ABC, Generic[AnswerT]):
    """One question. Subclasses set `name`, `kind` and `answer_model`, and `content_tier` when their
    messages carry more than metrics: the privacy tier a customer must be in for that content to be sent
    to a model at all."""

    name: ClassVar[str]
    kind: ClassVar[TaskKind]
    content_tier: ClassVar[PrivacyTier] = PrivacyTier.METRICS_ONLY
    answer_model: type[AnswerT]

    @abstractmethod
    def messages(self) -> list[ChatMessage]:
        """The prompt. It must ask for one JSON object matching `answer_model`."""

    @abstractmethod
    def rule_answer(self) -> AnswerT:
        """The rule tier's answer, always available: it is what any failure falls back to."""

    def settled_by_rules(self) -> AnswerT | None:
        """An answer the rules are sure of, so no model is asked at all; None when a model adds value."""
        return None

    def rejection(self, answer: AnswerT) -> str | None:
        """Why a schema-valid model answer still cannot be used (checks pydantic cannot express)."""
        return None
