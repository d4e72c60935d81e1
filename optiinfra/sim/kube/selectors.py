"""Label selectors: the `labelSelector` query string of list calls and the LabelSelector objects of specs.

String form, as the API server parses it: comma-separated requirements `k=v`, `k==v`, `k!=v`, `k`,
`!k`, `k in (a,b)`, `k notin (a,b)`. An empty selector matches everything."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from optiinfra.sim.kube.errors import bad_request

Requirement = Callable[[Mapping[str, str]], bool]

_SET_FORM = re.compile(r"^\s*([^\s!=(),]+)\s+(in|notin)\s+\(([^()]*)\)\s*$")
_KEY = re.compile(r"^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$")


def _split_requirements(selector: str) -> list[str]:
    parts: list[str] = []
    depth = 0
    current = ""
    for char in selector:
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    parts.append(current)
    return [part.strip() for part in parts if part.strip()]


def _key(key: str, selector: str) -> str:
    key = key.strip()
    if not _KEY.match(key):
        raise bad_request(f"unable to parse requirement: invalid label key {key!r} in selector {selector!r}")
    return key


def _parse_one(text: str, selector: str) -> Requirement:
    matched = _SET_FORM.match(text)
    if matched:
        key = _key(matched.group(1), selector)
        values = {value.strip() for value in matched.group(3).split(",") if value.strip()}
        if matched.group(2) == "in":
            return lambda labels: labels.get(key) in values
        return lambda labels: labels.get(key) not in values
    for operator in ("!=", "==", "="):
        if operator in text:
            raw_key, _, raw_value = text.partition(operator)
            key, value = _key(raw_key, selector), raw_value.strip()
            if operator == "!=":
                return lambda labels: labels.get(key) != value
            return lambda labels: labels.get(key) == value
    if text.startswith("!"):
        key = _key(text[1:], selector)
        return lambda labels: key not in labels
    key = _key(text, selector)
    return lambda labels: key in labels


def parse_selector(selector: str | None) -> Requirement:
    """A predicate on a labels mapping; a malformed selector is a 400 BadRequest."""
    requirements = [_parse_one(part, selector or "") for part in _split_requirements(selector or "")]
    return lambda labels: all(requirement(labels) for requirement in requirements)


def label_selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """Whether a LabelSelector object (matchLabels and matchExpressions) selects these labels.
    An empty selector selects everything here; the API rejects empty Deployment selectors anyway."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key = expression.get("key", "")
        operator = expression.get("operator")
        values = set(expression.get("values") or [])
        if operator == "In" and labels.get(key) not in values:
            return False
        if operator == "NotIn" and labels.get(key) in values:
            return False
        if operator == "Exists" and key not in labels:
            return False
        if operator == "DoesNotExist" and key in labels:
            return False
    return True


def selector_to_string(selector: Mapping[str, Any] | None) -> str:
    """A LabelSelector object in the string form, as autoscaling/v1 Scale reports it in status.selector."""
    if not selector:
        return ""
    parts = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key", ""), expression.get("operator")
        values = ",".join(sorted(expression.get("values") or []))
        if operator == "In":
            parts.append(f"{key} in ({values})")
        elif operator == "NotIn":
            parts.append(f"{key} notin ({values})")
        elif operator == "Exists":
            parts.append(key)
        elif operator == "DoesNotExist":
            parts.append(f"!{key}")
    return ",".join(parts)
