"""Whether a model's reply is a usable answer to a task: JSON, matching the task's schema, and passing the
task's own checks. The problem is worded for both the usage record and the model asked to repair it."""

from pydantic import ValidationError

from agents.reasoning.tasks import AnswerT, ReasoningTask


class InvalidAnswer(Exception):
    """The message completes "the answer ...", e.g. "is not valid JSON (...)"."""


def validated_answer(task: ReasoningTask[AnswerT], text: str) -> AnswerT:
    try:
        answer = task.answer_model.model_validate_json(text)
    except ValidationError as error:
        detail = error.errors()[0]
        if detail["type"] == "json_invalid":
            raise InvalidAnswer(f"is not valid JSON ({detail['msg']})") from error
        location = ".".join(str(part) for part in detail["loc"]) or "answer"
        raise InvalidAnswer(f"does not match the schema: {location}: {detail['msg']}") from error
    rejection = task.rejection(answer)
    if rejection is not None:
        raise InvalidAnswer(f"was rejected: {rejection}")
    return answer
