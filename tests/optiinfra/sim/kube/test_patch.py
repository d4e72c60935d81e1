"""The patch formats and label selectors of the twin's Kubernetes endpoint, on plain JSON values."""

from typing import Any

import pytest

from optiinfra.sim.kube.errors import ApiError
from optiinfra.sim.kube.patch import (
    JSON_PATCH,
    MERGE_PATCH,
    STRATEGIC_MERGE_PATCH,
    apply_patch,
    json_patch,
    merge_patch,
    strategic_merge_patch,
)
from optiinfra.sim.kube.selectors import label_selector_matches, parse_selector, selector_to_string


def _pod_spec() -> dict[str, Any]:
    return {
        "containers": [
            {"name": "vllm", "image": "vllm:1", "args": ["--a", "1"], "env": [{"name": "X", "value": "1"}]},
            {"name": "sidecar", "image": "side:1"},
        ],
        "nodeSelector": {"k": "v"},
    }


def test_merge_patch_merges_maps_deletes_nulls_and_replaces_lists() -> None:
    target = _pod_spec()
    patched = merge_patch(target, {"nodeSelector": {"k": None, "z": "1"}, "containers": [{"name": "only"}]})
    assert patched == {"containers": [{"name": "only"}], "nodeSelector": {"z": "1"}}
    assert target == _pod_spec(), "the target is not modified"


def test_strategic_merge_patch_merges_containers_by_name_and_replaces_other_lists() -> None:
    patched = strategic_merge_patch(
        _pod_spec(),
        {
            "containers": [
                {"name": "vllm", "args": ["--b"], "env": [{"name": "Y", "value": "2"}]},
                {"name": "new", "image": "new:1"},
            ]
        },
    )
    vllm, sidecar, new = patched["containers"]
    assert vllm["image"] == "vllm:1", "fields the patch does not name are kept"
    assert vllm["args"] == ["--b"], "a list of strings is replaced"
    assert vllm["env"] == [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}], "env merges by name"
    assert sidecar == {"name": "sidecar", "image": "side:1"}
    assert new == {"name": "new", "image": "new:1"}


def test_strategic_merge_patch_delete_directive_and_null() -> None:
    patched = strategic_merge_patch(
        _pod_spec(),
        {
            "containers": [{"name": "sidecar", "$patch": "delete"}],
            "nodeSelector": None,
            "$setElementOrder/x": [],
        },
    )
    assert [c["name"] for c in patched["containers"]] == ["vllm"]
    assert "nodeSelector" not in patched


def test_json_patch_operations() -> None:
    doc = {"a": {"list": [1, 2]}, "b": "x"}
    patched = json_patch(
        doc,
        [
            {"op": "add", "path": "/a/list/-", "value": 3},
            {"op": "add", "path": "/a/list/0", "value": 0},
            {"op": "replace", "path": "/b", "value": "y"},
            {"op": "test", "path": "/a/list", "value": [0, 1, 2, 3]},
            {"op": "copy", "from": "/b", "path": "/c"},
            {"op": "move", "from": "/c", "path": "/d~1e"},
            {"op": "remove", "path": "/a/list/1"},
        ],
    )
    assert patched == {"a": {"list": [0, 2, 3]}, "b": "y", "d/e": "y"}
    assert doc == {"a": {"list": [1, 2]}, "b": "x"}


@pytest.mark.parametrize(
    ("operations", "code"),
    [
        ([{"op": "test", "path": "/b", "value": "other"}], 422),
        ([{"op": "replace", "path": "/missing", "value": 1}], 422),
        ([{"op": "remove", "path": "/a/list/5"}], 422),
        ([{"op": "add", "path": "/nope/deeper", "value": 1}], 422),
        ({"op": "add", "path": "/b", "value": 1}, 400),
        ([{"op": "frobnicate", "path": "/b"}], 400),
        ([{"op": "add", "path": "/b"}], 400),
    ],
)
def test_json_patch_failures(operations: Any, code: int) -> None:
    with pytest.raises(ApiError) as raised:
        json_patch({"a": {"list": [1]}, "b": "x"}, operations)
    assert raised.value.code == code
    if code == 422:
        assert raised.value.reason == "Invalid"


def test_apply_patch_dispatches_on_content_type_and_refuses_others() -> None:
    doc = {"spec": {"replicas": 1}}
    assert apply_patch(MERGE_PATCH, doc, {"spec": {"replicas": 2}}) == {"spec": {"replicas": 2}}
    assert apply_patch(STRATEGIC_MERGE_PATCH, doc, {"spec": {"replicas": 3}}) == {"spec": {"replicas": 3}}
    assert apply_patch(JSON_PATCH, doc, [{"op": "replace", "path": "/spec/replicas", "value": 4}]) == {
        "spec": {"replicas": 4}
    }
    with pytest.raises(ApiError) as raised:
        apply_patch("application/apply-patch+yaml", doc, {})
    assert raised.value.code == 415


@pytest.mark.parametrize(
    ("selector", "expected"),
    [
        ("", True),
        ("app=chat", True),
        ("app==chat,tier=gpu", True),
        ("app=chat,tier!=gpu", False),
        ("serve!=false", True),
        ("missing!=x", True),
        ("app in (chat, embed),tier notin (cpu)", True),
        ("app notin (chat)", False),
        ("tier", True),
        ("!tier", False),
        ("!missing", True),
    ],
)
def test_label_selector_strings(selector: str, expected: bool) -> None:
    assert parse_selector(selector)({"app": "chat", "tier": "gpu"}) is expected


def test_malformed_selector_is_a_bad_request() -> None:
    with pytest.raises(ApiError) as raised:
        parse_selector("a b=c")
    assert raised.value.code == 400


def test_label_selector_objects_and_their_string_form() -> None:
    selector = {
        "matchLabels": {"app": "chat"},
        "matchExpressions": [{"key": "tier", "operator": "In", "values": ["gpu", "tpu"]}],
    }
    assert label_selector_matches(selector, {"app": "chat", "tier": "gpu"})
    assert not label_selector_matches(selector, {"app": "chat", "tier": "cpu"})
    assert selector_to_string(selector) == "app=chat,tier in (gpu,tpu)"
    assert parse_selector(selector_to_string(selector))({"app": "chat", "tier": "tpu"})
