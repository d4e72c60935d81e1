"""API errors of the twin's Kubernetes endpoint, answered as v1 Status objects like the real API server."""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failed API call: HTTP `code`, machine `reason` (NotFound, Conflict, Invalid, ...), `message`."""

    def __init__(self, code: int, reason: str, message: str, details: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def status(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body


def not_found(resource: str, name: str) -> ApiError:
    group, kind = _group_kind(resource)
    details = {"name": name, "kind": kind, **({"group": group} if group else {})}
    return ApiError(404, "NotFound", f'{resource} "{name}" not found', details)


def already_exists(resource: str, name: str) -> ApiError:
    group, kind = _group_kind(resource)
    details = {"name": name, "kind": kind, **({"group": group} if group else {})}
    return ApiError(409, "AlreadyExists", f'{resource} "{name}" already exists', details)


def conflict(resource: str, name: str) -> ApiError:
    group, kind = _group_kind(resource)
    details = {"name": name, "kind": kind, **({"group": group} if group else {})}
    message = (
        f'Operation cannot be fulfilled on {resource} "{name}": the object has been modified; '
        "please apply your changes to the latest version and try again"
    )
    return ApiError(409, "Conflict", message, details)


def invalid(kind: str, name: str, problems: list[str]) -> ApiError:
    message = f'{kind} "{name}" is invalid: ' + "; ".join(problems)
    return ApiError(422, "Invalid", message, {"name": name, "kind": kind})


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def _group_kind(resource: str) -> tuple[str, str]:
    kind, _, group = resource.partition(".")
    return group, kind
