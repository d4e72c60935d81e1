"""Kubernetes object rules the twin applies on every write: the API server's defaults for Deployments,
validation (answered as 422 Invalid), and which metadata a client may set."""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from typing import Any

from optiinfra.sim.kube.errors import ApiError, bad_request
from optiinfra.sim.kube.selectors import label_selector_matches

DNS1123_SUBDOMAIN = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$")


def resolve_int_or_percent(value: Any, total: int, *, round_up: bool, field: str) -> int:
    if value is None:
        value = "25%"
    if isinstance(value, bool):
        raise bad_request(f"{field}: invalid type bool")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.endswith("%") and value[:-1].isdigit():
        scaled = int(value[:-1]) * total / 100
        return math.ceil(scaled) if round_up else math.floor(scaled)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise bad_request(f"{field}: invalid value {value!r}: must be an integer or percentage (e.g. '5%')")


def without_type(obj: Mapping[str, Any]) -> dict[str, Any]:
    """List items carry no kind/apiVersion of their own, as the API server serves them."""
    return {key: value for key, value in obj.items() if key not in ("kind", "apiVersion")}


SYSTEM_METADATA = (
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "creationTimestamp",
    "generation",
    "generateName",
)


def system_metadata(current: Mapping[str, Any]) -> dict[str, Any]:
    metadata = current.get("metadata") or {}
    kept = {key: metadata[key] for key in SYSTEM_METADATA if key in metadata}
    if "ownerReferences" in metadata:
        kept["ownerReferences"] = copy.deepcopy(metadata["ownerReferences"])
    return kept


def user_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """What a client may set: labels, annotations, finalizers (empty maps dropped, as the server does)."""
    kept: dict[str, Any] = {}
    for key in ("labels", "annotations", "finalizers"):
        value = metadata.get(key)
        if value:
            kept[key] = copy.deepcopy(value)
    return kept


def check_body_name(body: Mapping[str, Any], namespace: str, name: str) -> None:
    metadata = body.get("metadata") or {}
    if metadata.get("name", name) != name:
        raise bad_request(
            f"the name of the object ({metadata.get('name')}) does not match the name on the URL ({name})"
        )
    if metadata.get("namespace", namespace) != namespace:
        raise bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


def metadata_problems(metadata: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    for field in ("labels", "annotations"):
        values = metadata.get(field)
        if values is None:
            continue
        if not isinstance(values, dict):
            problems.append(f"metadata.{field}: Invalid value: must be a map of strings")
            continue
        for key, value in values.items():
            if not isinstance(value, str):
                problems.append(f"metadata.{field}[{key}]: Invalid value: {value!r}: must be a string")
    name = metadata.get("name")
    if isinstance(name, str) and (len(name) > 253 or not DNS1123_SUBDOMAIN.match(name)):
        problems.append(f"metadata.name: Invalid value: {name!r}: must be a lowercase RFC 1123 subdomain")
    return problems


def apply_deployment_defaults(body: dict[str, Any]) -> None:
    """The API server's defaults for the fields this twin reads, applied on every write."""
    spec = body.setdefault("spec", {})
    if not isinstance(spec, dict):
        return
    spec.setdefault("replicas", 1)
    spec.setdefault("revisionHistoryLimit", 10)
    spec.setdefault("progressDeadlineSeconds", 600)
    strategy = spec.setdefault("strategy", {})
    if isinstance(strategy, dict):
        strategy.setdefault("type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate":
            rolling = strategy.setdefault("rollingUpdate", {})
            if isinstance(rolling, dict):
                rolling.setdefault("maxSurge", "25%")
                rolling.setdefault("maxUnavailable", "25%")
    template = spec.get("template")
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        return
    pod_spec = template["spec"]
    pod_spec.setdefault("restartPolicy", "Always")
    pod_spec.setdefault("terminationGracePeriodSeconds", 30)
    pod_spec.setdefault("dnsPolicy", "ClusterFirst")
    pod_spec.setdefault("schedulerName", "default-scheduler")
    for container in pod_spec.get("containers") or []:
        if not isinstance(container, dict):
            continue
        image = str(container.get("image", ""))
        latest = ":" not in image.rsplit("/", 1)[-1] or image.endswith(":latest")
        container.setdefault("imagePullPolicy", "Always" if latest else "IfNotPresent")
        container.setdefault("terminationMessagePath", "/dev/termination-log")
        container.setdefault("terminationMessagePolicy", "File")
        for port in container.get("ports") or []:
            if isinstance(port, dict):
                port.setdefault("protocol", "TCP")


def deployment_problems(body: Mapping[str, Any]) -> list[str]:
    problems: list[str] = []
    spec = body.get("spec")
    if not isinstance(spec, dict):
        return ["spec: Required value"]
    replicas = spec.get("replicas")
    if isinstance(replicas, bool) or not isinstance(replicas, int) or replicas < 0:
        problems.append(f"spec.replicas: Invalid value: {replicas!r}: must be greater than or equal to 0")
    selector = spec.get("selector")
    if not isinstance(selector, dict) or not (
        selector.get("matchLabels") or selector.get("matchExpressions")
    ):
        problems.append("spec.selector: Required value")
    template = spec.get("template")
    if not isinstance(template, dict) or not isinstance(template.get("spec"), dict):
        return [*problems, "spec.template.spec: Required value"]
    labels = (template.get("metadata") or {}).get("labels") or {}
    if isinstance(selector, dict) and not label_selector_matches(selector, labels):
        problems.append(
            "spec.template.metadata.labels: Invalid value: `selector` does not match template `labels`"
        )
    containers = template["spec"].get("containers")
    if not isinstance(containers, list) or not containers:
        problems.append("spec.template.spec.containers: Required value")
    else:
        names: set[str] = set()
        for index, container in enumerate(containers):
            where = f"spec.template.spec.containers[{index}]"
            if not isinstance(container, dict):
                problems.append(f"{where}: Invalid value: must be an object")
                continue
            name = container.get("name")
            if not isinstance(name, str) or not name:
                problems.append(f"{where}.name: Required value")
            elif name in names:
                problems.append(f"{where}.name: Duplicate value: {name!r}")
            else:
                names.add(name)
            if not container.get("image"):
                problems.append(f"{where}.image: Required value")
            for field in ("args", "command"):
                value = container.get(field)
                if value is not None and (
                    not isinstance(value, list) or not all(isinstance(item, str) for item in value)
                ):
                    problems.append(f"{where}.{field}: Invalid value: must be a list of strings")
    strategy = spec.get("strategy") or {}
    if strategy.get("type") not in ("RollingUpdate", "Recreate"):
        problems.append(f"spec.strategy.type: Unsupported value: {strategy.get('type')!r}")
    elif strategy.get("type") == "RollingUpdate" and isinstance(replicas, int):
        rolling = strategy.get("rollingUpdate") or {}
        try:
            surge = resolve_int_or_percent(rolling.get("maxSurge"), 100, round_up=True, field="maxSurge")
            unavailable = resolve_int_or_percent(
                rolling.get("maxUnavailable"), 100, round_up=False, field="maxUnavailable"
            )
        except ApiError as error:
            problems.append(f"spec.strategy.rollingUpdate.{error.message}")
        else:
            if surge < 0 or unavailable < 0:
                problems.append(
                    "spec.strategy.rollingUpdate: Invalid value: must be greater than or equal to 0"
                )
            elif surge == 0 and unavailable == 0:
                problems.append(
                    "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: "
                    "may not be 0 when maxSurge is 0"
                )
    return problems
