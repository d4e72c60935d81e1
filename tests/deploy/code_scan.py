"""What the code calls, read from its source with `ast`: boto3 client methods (as IAM actions) and official
Kubernetes client methods (as RBAC rules). The deploy tests compare the IAM policy and the ClusterRole with
these, both ways.

Receivers are matched by name across the scanned files: a name (`sts`, `self.ec2`, `self._kms`, ...) is a
client of a service when some assignment gives it `<x>.client("svc")` or `boto3.client("svc")`, a parameter
or attribute is annotated with a client type (`EC2Client` from `mypy_boto3_ec2.client`, or a type named in
`cast("PricingClient", <x>.client("pricing"))`), or it is assigned from a name that is one. Kubernetes API
objects are found the same way from `k8s_client.AppsV1Api(...)`-style constructions."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import botocore.session
from botocore import xform_name

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("optiinfra", "agents", "activities", "workflows", "workers", "kvtier", "api")
NOT_PRODUCTION = (
    "optiinfra/sim",  # the embedded twin: seeds its own moto server
    "optiinfra/bench",  # benchmarks
)
CATALOG_REFRESH = "optiinfra/catalog/refresh.py"
"""Run by a maintainer (`optiinfra catalog refresh`), with their own credentials, not by the worker."""


def python_files(*, include: Iterable[str] = PACKAGES, exclude: Iterable[str] = ()) -> list[Path]:
    excluded = tuple(exclude)
    found: list[Path] = []
    for top in include:
        base = ROOT / top
        candidates = [base] if base.is_file() else sorted(base.rglob("*.py"))
        for path in candidates:
            relative = path.relative_to(ROOT).as_posix()
            if not relative.startswith(excluded):
                found.append(path)
    return found


def production_files() -> list[Path]:
    return python_files(exclude=(*NOT_PRODUCTION, CATALOG_REFRESH))


def catalog_refresh_files() -> list[Path]:
    return python_files(include=(CATALOG_REFRESH,))


def _identifier(node: ast.AST) -> str | None:
    """`x` for `x`, `attr` for `<anything>.attr`."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _string(node: ast.AST) -> str | None:
    return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None


def _annotation_names(node: ast.AST | None) -> set[str]:
    """Every bare name in an annotation, quoted annotations included (`"EC2Client | None"`)."""
    if node is None:
        return set()
    text = _string(node)
    if text is not None:
        try:
            node = ast.parse(text, mode="eval")
        except SyntaxError:
            return set()
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name)} | {
        n.attr for n in ast.walk(node) if isinstance(n, ast.Attribute)
    }


@dataclass
class _Bindings:
    """Receiver name -> what it is (a boto3 service name, or a Kubernetes API class name)."""

    names: dict[str, str]
    types: dict[str, str]


def _parse(files: Iterable[Path]) -> list[ast.Module]:
    return [ast.parse(path.read_text(encoding="utf-8"), filename=str(path)) for path in files]


def _boto3_client_service(node: ast.AST) -> str | None:
    """ "ec2" for `<x>.client("ec2", ...)` (also under `cast(...)`)."""
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "cast":
        return _boto3_client_service(node.args[1]) if len(node.args) == 2 else None
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "client"
        and node.args
    ):
        return _string(node.args[0])
    return None


def _kube_api_class(node: ast.AST, api_classes: set[str]) -> str | None:
    if isinstance(node, ast.Call):
        name = _identifier(node.func)
        if name in api_classes:
            return name
    return None


def _assignments(trees: list[ast.Module]) -> Iterator[tuple[list[ast.AST], ast.AST | None, ast.AST]]:
    """(targets, annotation, value) of every assignment; value is the assigned expression."""
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign):
                yield node.targets, None, node.value
            elif isinstance(node, ast.AnnAssign) and node.value is not None:
                yield [node.target], node.annotation, node.value


def _bind(
    trees: list[ast.Module], constructor: Callable[[ast.AST], str | None], *, boto3_types: bool
) -> _Bindings:
    """Fixpoint of: constructor assignments, annotations with a known type, and name-to-name aliases."""
    names: dict[str, str] = {}
    types: dict[str, str] = {}
    for tree in trees if boto3_types else []:
        for node in ast.walk(tree):
            # `from mypy_boto3_ec2.client import EC2Client` makes EC2Client the type of an ec2 client.
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("mypy_boto3_"):
                service = node.module.removeprefix("mypy_boto3_").split(".")[0].replace("_", "-")
                for alias in node.names:
                    if alias.name.endswith("Client"):
                        types[alias.asname or alias.name] = service
            # `cast("PricingClient", session.client("pricing"))` names a client type too.
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "cast"
                and len(node.args) == 2
                and (service := _boto3_client_service(node.args[1]))
            ):
                for type_name in _annotation_names(node.args[0]):
                    types.setdefault(type_name, service)
    changed = True
    while changed:
        changed = False

        def learn(name: str | None, what: str | None) -> None:
            nonlocal changed
            if name and what and names.get(name) != what:
                names[name] = what
                changed = True

        for targets, annotation, value in _assignments(trees):
            what = constructor(value)
            if what is None:
                source = _identifier(value)
                what = names.get(source) if source else None
            if what is None:
                what = next((types[t] for t in _annotation_names(annotation) if t in types), None)
            for target in targets:
                learn(_identifier(target), what)
        for tree in trees:
            for node in ast.walk(tree):
                if isinstance(node, ast.arg):
                    learn(
                        node.arg,
                        next((types[t] for t in _annotation_names(node.annotation) if t in types), None),
                    )
                # a dict of clients iterated as `for region, ec2 in clients.items()` is not followed: name
                # such a loop variable like the client (as refresh.py does) or annotate it.
    return _Bindings(names=names, types=types)


# --- boto3 -------------------------------------------------------------------------------------------------

_SESSION = botocore.session.get_session()
IAM_PREFIX = {
    "ec2": "ec2",
    "cloudwatch": "cloudwatch",
    "autoscaling": "autoscaling",
    "sts": "sts",
    "kms": "kms",
    "pricing": "pricing",
}
"""boto3 client name -> IAM action prefix, for the services the code uses (a new one must be added here)."""


def _operations(service: str) -> dict[str, str]:
    """snake_case method -> API operation name (DescribeInstances), from botocore's own service model."""
    model = _SESSION.get_service_model(service)
    return {xform_name(op): op for op in model.operation_names}


def boto3_calls(files: Iterable[Path]) -> dict[str, set[str]]:
    """IAM action ("ec2:DescribeInstances") -> where ("optiinfra/cloud/ec2.py:612") it is called."""
    paths = list(files)
    trees = _parse(paths)
    bindings = _bind(trees, _boto3_client_service, boto3_types=True)
    services = set(bindings.names.values())
    operations = {service: _operations(service) for service in services}
    found: dict[str, set[str]] = {}

    def record(service: str, method: str, path: Path, line: int) -> None:
        if service not in IAM_PREFIX:
            raise AssertionError(f"{path}:{line}: boto3 client {service!r} has no IAM prefix in code_scan.py")
        action = f"{IAM_PREFIX[service]}:{operations[service][method]}"
        found.setdefault(action, set()).add(f"{path.relative_to(ROOT).as_posix()}:{line}")

    for path, tree in zip(paths, trees, strict=True):
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            receiver = _identifier(node.value)
            service = bindings.names.get(receiver) if receiver else None
            if service is None:
                continue
            if node.attr in operations[service]:
                record(service, node.attr, path, node.lineno)
        # paginators: `<client>.get_paginator("describe_instances")`
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get_paginator"
                and node.args
                and (receiver := _identifier(node.func.value))
                and (service := bindings.names.get(receiver))
                and (method := _string(node.args[0]))
            ):
                record(service, method, path, node.lineno)
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr == "get_waiter"
                and (receiver := _identifier(node.func.value))
                and bindings.names.get(receiver)
            ):
                raise AssertionError(f"{path}:{node.lineno}: waiters are not mapped to IAM actions yet")
    return found


# --- Kubernetes --------------------------------------------------------------------------------------------

_VERB_BY_METHOD = {"POST": "create", "PUT": "update", "PATCH": "patch"}


@dataclass(frozen=True, order=True)
class Permission:
    group: str
    resource: str  # "deployments", or "deployments/scale" for a subresource
    verb: str


def _kube_api_classes() -> dict[str, type]:
    from kubernetes import client

    found: dict[str, type] = {}
    for name in dir(client):
        cls = getattr(client, name)
        if (
            name.endswith("Api")
            and inspect.isclass(cls)
            and cls.__module__.startswith("kubernetes.client.api.")
        ):
            found[name] = cls
    return found


_SERIALIZE = re.compile(r"method='(\w+)',\s*resource_path='([^']+)'")
_LEGACY = re.compile(r"call_api\(\s*'([^']+)',\s*'(\w+)'")


def kube_permission(api_class: type, method: str) -> Permission:
    """The RBAC permission one client method needs, read from the client's own request path and verb."""
    source = ""
    for name in (f"_{method}_serialize", f"{method}_with_http_info"):
        if hasattr(api_class, name):
            source = inspect.getsource(getattr(api_class, name))
            break
    if match := _SERIALIZE.search(source):
        http_method, path = match.group(1), match.group(2)
    elif match := _LEGACY.search(source):
        path, http_method = match.group(1), match.group(2)
    else:
        raise AssertionError(f"cannot read the request of {api_class.__name__}.{method}")
    parts = path.strip("/").split("/")
    group = "" if parts[0] == "api" else parts[1]
    rest = parts[2:] if parts[0] == "api" else parts[3:]
    if rest[:1] == ["namespaces"] and len(rest) > 2:
        rest = rest[2:]
    resource, named, subresource = rest[0], len(rest) > 1, rest[2] if len(rest) > 2 else None
    if http_method == "GET":
        verb = "get" if named else "list"
    elif http_method == "DELETE":
        verb = "delete" if named else "deletecollection"
    else:
        verb = _VERB_BY_METHOD[http_method]
    return Permission(group, f"{resource}/{subresource}" if subresource else resource, verb)


def kube_calls(files: Iterable[Path]) -> dict[Permission, set[str]]:
    """RBAC permission -> where ("optiinfra/kube/deployments.py:304 read_namespaced_deployment")."""
    paths = list(files)
    trees = _parse(paths)
    classes = _kube_api_classes()
    bindings = _bind(trees, lambda value: _kube_api_class(value, set(classes)), boto3_types=False)
    found: dict[Permission, set[str]] = {}
    for path, tree in zip(paths, trees, strict=True):
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            receiver = _identifier(node.value)
            class_name = bindings.names.get(receiver) if receiver else None
            if class_name is None:
                continue
            api_class = classes[class_name]
            if node.attr.startswith("_") or not callable(getattr(api_class, node.attr, None)):
                continue
            if (
                node.attr.endswith(("_with_http_info", "_without_preload_content"))
                or node.attr == "get_api_resources"
            ):
                continue
            permission = kube_permission(api_class, node.attr)
            found.setdefault(permission, set()).add(
                f"{path.relative_to(ROOT).as_posix()}:{node.lineno} {node.attr}"
            )
    return found
