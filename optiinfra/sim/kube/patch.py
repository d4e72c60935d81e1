"""The three patch formats the Kubernetes API accepts for built-in objects, on plain JSON values.

- JSON merge patch (RFC 7386, `application/merge-patch+json`): objects merge, null deletes, everything
  else (lists included) replaces.
- Strategic merge patch (`application/strategic-merge-patch+json`): a merge patch whose lists of named
  things (containers, env, volumes, ports, ...) merge item by item on their key; an item carrying
  `"$patch": "delete"` removes the matching one. Other lists replace. Directive keys this twin does not
  interpret (`$setElementOrder/...`, `$retainKeys`, ...) are ignored.
- JSON patch (RFC 6902, `application/json-patch+json`): add, remove, replace, move, copy and test with
  JSON pointers. A malformed patch is a 400; an operation that cannot apply (a failed `test` included)
  is a 422 Invalid, as the API server answers."""

from __future__ import annotations

import copy
from typing import Any

from optiinfra.sim.kube.errors import ApiError, bad_request

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH)

# Lists that strategic merge merges by a key (the patchMergeKey of the core and apps types used here).
MERGE_KEYS: dict[str, str] = {
    "containers": "name",
    "initContainers": "name",
    "ephemeralContainers": "name",
    "env": "name",
    "volumes": "name",
    "volumeMounts": "mountPath",
    "volumeDevices": "devicePath",
    "ports": "containerPort",
    "imagePullSecrets": "name",
    "conditions": "type",
    "ownerReferences": "uid",
    "hostAliases": "ip",
    "topologySpreadConstraints": "topologyKey",
}


def apply_patch(content_type: str, target: Any, patch: Any) -> Any:
    """The patched copy of `target`; `target` itself is left untouched."""
    if content_type == MERGE_PATCH:
        if not isinstance(patch, dict):
            raise bad_request("invalid JSON merge patch: the patch document must be a JSON object")
        return merge_patch(target, patch)
    if content_type == STRATEGIC_MERGE_PATCH:
        if not isinstance(patch, dict):
            raise bad_request("strategic merge patch: the patch document must be a JSON object")
        return strategic_merge_patch(target, patch)
    if content_type == JSON_PATCH:
        return json_patch(target, patch)
    raise ApiError(
        415, "UnsupportedMediaType", f"the body of the request was in an unknown format: {content_type}"
    )


def merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def strategic_merge_patch(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    if patch.get("$patch") == "replace":
        return {k: copy.deepcopy(v) for k, v in patch.items() if not k.startswith("$")}
    result = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            result.pop(key, None)
        elif isinstance(value, list) and key in MERGE_KEYS and isinstance(result.get(key), list):
            result[key] = _merge_list(result[key], value, MERGE_KEYS[key])
        elif isinstance(value, list):
            result[key] = [
                copy.deepcopy(v) for v in value if not (isinstance(v, dict) and v.get("$patch") == "delete")
            ]
        else:
            result[key] = strategic_merge_patch(result.get(key), value)
    return result


def _merge_list(current: list[Any], patch: list[Any], merge_key: str) -> list[Any]:
    result = copy.deepcopy(current)
    for item in patch:
        if not isinstance(item, dict) or merge_key not in item:
            raise bad_request(f"strategic merge patch: every item must be an object with {merge_key!r}")
        position = next(
            (
                i
                for i, old in enumerate(result)
                if isinstance(old, dict) and old.get(merge_key) == item[merge_key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if position is not None:
                del result[position]
        elif position is None:
            result.append(strategic_merge_patch({}, item))
        else:
            result[position] = strategic_merge_patch(result[position], item)
    return result


def json_patch(target: Any, operations: Any) -> Any:
    if not isinstance(operations, list) or not all(isinstance(op, dict) for op in operations):
        raise bad_request("json: cannot unmarshal object into Go value of type jsonpatch.Patch")
    document = copy.deepcopy(target)
    for operation in operations:
        document = _apply_operation(document, operation)
    return document


def _invalid(message: str) -> ApiError:
    return ApiError(422, "Invalid", message)


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise bad_request(f"invalid JSON pointer {path!r}")
    if path == "":
        return []
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], token: str, path: str, *, for_add: bool = False) -> int:
    if for_add and token == "-":
        return len(container)
    if not token.isdigit() or (len(token) > 1 and token.startswith("0")):
        raise _invalid(f"invalid array index {token!r} in {path}")
    index = int(token)
    limit = len(container) if for_add else len(container) - 1
    if index > limit:
        raise _invalid(f"array index {index} out of bounds in {path}")
    return index


def _parent(document: Any, tokens: list[str], path: str) -> Any:
    node = document
    for token in tokens[:-1]:
        if isinstance(node, dict):
            if token not in node:
                raise _invalid(f"doc is missing path: {path}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, path)]
        else:
            raise _invalid(f"doc is missing path: {path}")
    return node


def _get(document: Any, path: str) -> Any:
    node = document
    for token in _pointer(path):
        if isinstance(node, dict):
            if token not in node:
                raise _invalid(f"doc is missing path: {path}")
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, path)]
        else:
            raise _invalid(f"doc is missing path: {path}")
    return node


def _add(document: Any, path: str, value: Any) -> Any:
    tokens = _pointer(path)
    if not tokens:
        return copy.deepcopy(value)
    parent = _parent(document, tokens, path)
    if isinstance(parent, dict):
        parent[tokens[-1]] = copy.deepcopy(value)
    elif isinstance(parent, list):
        parent.insert(_index(parent, tokens[-1], path, for_add=True), copy.deepcopy(value))
    else:
        raise _invalid(f"doc is missing path: {path}")
    return document


def _remove(document: Any, path: str) -> tuple[Any, Any]:
    tokens = _pointer(path)
    if not tokens:
        raise _invalid("cannot remove the whole document")
    parent = _parent(document, tokens, path)
    if isinstance(parent, dict):
        if tokens[-1] not in parent:
            raise _invalid(f"unable to remove nonexistent key: {tokens[-1]}: missing value")
        return document, parent.pop(tokens[-1])
    if isinstance(parent, list):
        return document, parent.pop(_index(parent, tokens[-1], path))
    raise _invalid(f"doc is missing path: {path}")


def _apply_operation(document: Any, operation: dict[str, Any]) -> Any:
    op = operation.get("op")
    path = operation.get("path")
    if not isinstance(path, str):
        raise bad_request(f"json patch operation {op!r} has no path")
    if op in ("add", "replace", "test") and "value" not in operation:
        raise bad_request(f"json patch operation {op!r} on {path} has no value")
    if op == "add":
        return _add(document, path, operation["value"])
    if op == "remove":
        return _remove(document, path)[0]
    if op == "replace":
        _get(document, path)
        if not _pointer(path):
            return copy.deepcopy(operation["value"])
        document, _ = _remove(document, path)
        return _add(document, path, operation["value"])
    if op == "test":
        if _get(document, path) != operation["value"]:
            raise _invalid(f"testing value {path} failed: test failed")
        return document
    if op in ("move", "copy"):
        source = operation.get("from")
        if not isinstance(source, str):
            raise bad_request(f"json patch operation {op!r} has no from")
        if op == "move":
            document, value = _remove(document, source)
        else:
            value = copy.deepcopy(_get(document, source))
        return _add(document, path, value)
    raise bad_request(f"Unexpected kind: {op}")
