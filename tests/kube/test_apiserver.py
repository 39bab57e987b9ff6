"""The API-server emulator on its own, through the unchanged official client."""

from __future__ import annotations

import threading
import time

import pytest
from kubernetes import client, watch

from .apiserver import ApiServer
from .apiserver.patches import PatchError, json_patch, merge_patch, strategic_merge_patch
from .apiserver.selectors import SelectorError, parse_field_selector, parse_label_selector
from .conftest import make_client, pod, watch_events

NS = "default"


def _obj(labels: dict[str, str]) -> dict:
    return {"metadata": {"labels": labels}, "status": {"phase": "Running"}}


@pytest.mark.parametrize(
    ("selector", "labels", "expected"),
    [
        ("a=b", {"a": "b"}, True),
        ("a==b", {"a": "b"}, True),
        ("a=b", {"a": "c"}, False),
        ("a!=b", {}, True),
        ("a!=b", {"a": "b"}, False),
        ("a in (b, c)", {"a": "c"}, True),
        ("a in (b,c)", {}, False),
        ("a notin (b,c)", {}, True),
        ("a notin (b,c)", {"a": "b"}, False),
        ("a", {"a": ""}, True),
        ("!a", {"a": "x"}, False),
        ("!a", {}, True),
        ("gungnir.io/group=g1,gungnir.io/role in (primary)", {"gungnir.io/group": "g1"}, False),
        (
            "gungnir.io/group=g1,gungnir.io/role in (primary)",
            {"gungnir.io/group": "g1", "gungnir.io/role": "primary"},
            True,
        ),
    ],
)
def test_label_selector(selector: str, labels: dict[str, str], expected: bool) -> None:
    assert parse_label_selector(selector)(_obj(labels)) is expected


@pytest.mark.parametrize("bad", ["a in (b", "a=b)", "a in ()", "-a=b", "a=b c"])
def test_bad_label_selector(bad: str) -> None:
    with pytest.raises(SelectorError):
        parse_label_selector(bad)


def test_field_selector() -> None:
    obj = {"metadata": {"name": "x", "namespace": "ns"}, "status": {"phase": "Running"}}
    assert parse_field_selector("metadata.name=x,status.phase!=Failed")(obj)
    assert not parse_field_selector("metadata.name==y")(obj)
    assert not parse_field_selector("spec.nodeName=n1")(obj)
    with pytest.raises(SelectorError):
        parse_field_selector("metadata.name~x")


def test_patch_flavours() -> None:
    doc = {"a": {"b": 1, "c": 2}, "l": [{"name": "x", "v": 1}, {"name": "y", "v": 2}]}
    assert merge_patch(doc, {"a": {"b": None, "d": 3}}) == {"a": {"c": 2, "d": 3}, "l": doc["l"]}
    assert merge_patch(doc, {"l": [{"name": "z"}]})["l"] == [{"name": "z"}]
    smp = strategic_merge_patch(doc, {"l": [{"name": "y", "v": 9}, {"name": "z", "v": 0}]})
    assert smp["l"] == [{"name": "x", "v": 1}, {"name": "y", "v": 9}, {"name": "z", "v": 0}]
    smp = strategic_merge_patch(doc, {"l": [{"name": "x", "$patch": "delete"}]})
    assert smp["l"] == [{"name": "y", "v": 2}]
    ops = [
        {"op": "test", "path": "/a/b", "value": 1},
        {"op": "replace", "path": "/a/b", "value": 5},
        {"op": "add", "path": "/l/-", "value": {"name": "w"}},
        {"op": "remove", "path": "/l/0"},
        {"op": "move", "from": "/a/c", "path": "/m"},
        {"op": "copy", "from": "/m", "path": "/n"},
    ]
    out = json_patch(doc, ops)
    assert out == {"a": {"b": 5}, "l": [{"name": "y", "v": 2}, {"name": "w"}], "m": 2, "n": 2}
    assert doc["a"] == {"b": 1, "c": 2}  # the input is not modified
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "test", "path": "/a/b", "value": 2}])
    with pytest.raises(PatchError):
        json_patch(doc, [{"op": "replace", "path": "/missing", "value": 1}])


def test_crud_versions_and_status_bodies(kc: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kc)
    created = v1.create_namespaced_pod(NS, pod("p1", {"app": "v"}))
    rv1 = int(created.metadata.resource_version)
    assert created.metadata.uid and created.status.phase == "Pending"
    with pytest.raises(client.ApiException) as e:
        v1.create_namespaced_pod(NS, pod("p1"))
    assert e.value.status == 409 and '"reason": "AlreadyExists"' in e.value.body
    created.metadata.labels["x"] = "1"
    updated = v1.replace_namespaced_pod("p1", NS, created)
    assert int(updated.metadata.resource_version) > rv1
    # The same (now stale) version again: 409 Conflict with a Status body.
    with pytest.raises(client.ApiException) as e:
        v1.replace_namespaced_pod("p1", NS, created)
    assert e.value.status == 409 and '"reason": "Conflict"' in e.value.body
    # A patch that names a stale version is refused too; one that names none applies.
    with pytest.raises(client.ApiException) as e:
        v1.patch_namespaced_pod(
            "p1",
            NS,
            {"metadata": {"resourceVersion": str(rv1), "labels": {"y": "2"}}},
            _content_type="application/merge-patch+json",
        )
    assert e.value.status == 409
    patched = v1.patch_namespaced_pod(
        "p1",
        NS,
        [{"op": "add", "path": "/metadata/labels/y", "value": "2"}],
        _content_type="application/json-patch+json",
    )
    assert patched.metadata.labels == {"app": "v", "x": "1", "y": "2"}
    patched = v1.patch_namespaced_pod(
        "p1",
        NS,
        {"spec": {"containers": [{"name": "valkey", "image": "valkey:9"}]}},
        _content_type="application/strategic-merge-patch+json",
    )
    assert [c.image for c in patched.spec.containers] == ["valkey:9"]
    # A no-op write keeps its version.
    again = v1.replace_namespaced_pod("p1", NS, patched)
    assert again.metadata.resource_version == patched.metadata.resource_version
    with pytest.raises(client.ApiException) as e:
        v1.read_namespaced_pod("nope", NS)
    assert e.value.status == 404 and '"reason": "NotFound"' in e.value.body
    gone = v1.delete_namespaced_pod("p1", NS)
    assert gone is not None
    assert v1.list_namespaced_pod(NS).items == []


def test_generate_name_and_invalid(kc: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kc)
    a = v1.create_namespaced_event(
        NS,
        {"metadata": {"generateName": "g1."}, "involvedObject": {"kind": "Pod", "name": "p"}},
    )
    b = v1.create_namespaced_event(
        NS,
        {"metadata": {"generateName": "g1."}, "involvedObject": {"kind": "Pod", "name": "p"}},
    )
    assert a.metadata.name.startswith("g1.") and a.metadata.name != b.metadata.name
    with pytest.raises(client.ApiException) as e:
        v1.create_namespaced_pod(NS, pod("Bad_Name"))
    assert e.value.status == 422 and '"reason": "Invalid"' in e.value.body


def test_selectors_through_the_client(kc: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kc)
    v1.create_namespaced_pod(NS, pod("a", {"g": "1", "role": "primary"}, node="n1"))
    v1.create_namespaced_pod(NS, pod("b", {"g": "1", "role": "replica"}, node="n2"))
    v1.create_namespaced_pod(NS, pod("c", {"g": "2"}, node="n2"))
    v1.create_namespaced_pod("other", pod("d", {"g": "1"}))

    def names(**kw: str) -> list[str]:
        return sorted(p.metadata.name for p in v1.list_namespaced_pod(NS, **kw).items)

    assert names(label_selector="g=1") == ["a", "b"]
    assert names(label_selector="g=1,role!=primary") == ["b"]
    assert names(label_selector="role notin (primary)") == ["b", "c"]
    assert names(label_selector="!role") == ["c"]
    assert names(field_selector="spec.nodeName=n2") == ["b", "c"]
    all_ns = v1.list_pod_for_all_namespaces(label_selector="g=1").items
    assert sorted(p.metadata.name for p in all_ns) == ["a", "b", "d"]
    with pytest.raises(client.ApiException) as e:
        v1.list_namespaced_pod(NS, label_selector="g in (1")
    assert e.value.status == 400


def test_watch_resume_transitions_and_410(api: ApiServer, kc: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kc)
    start = v1.list_namespaced_pod(NS).metadata.resource_version
    v1.create_namespaced_pod(NS, pod("a", {"g": "1"}))
    v1.create_namespaced_pod(NS, pod("b", {"g": "2"}))
    v1.patch_namespaced_pod(
        "b", NS, {"metadata": {"labels": {"g": "1"}}}, _content_type="application/merge-patch+json"
    )  # b enters the selection
    v1.patch_namespaced_pod(
        "a", NS, {"metadata": {"labels": {"g": "3"}}}, _content_type="application/merge-patch+json"
    )  # a leaves it
    v1.patch_namespaced_pod(
        "b", NS, {"metadata": {"labels": {"x": "y"}}}, _content_type="application/merge-patch+json"
    )
    v1.delete_namespaced_pod("b", NS)
    events = watch_events(
        v1.list_namespaced_pod, NS, label_selector="g=1", resource_version=start, timeout_seconds=1
    )
    seen = [(e["type"], e["object"]["metadata"]["name"]) for e in events]
    assert seen == [
        ("ADDED", "a"),
        ("ADDED", "b"),
        ("DELETED", "a"),
        ("MODIFIED", "b"),
        ("DELETED", "b"),
    ]
    versions = [int(e["object"]["metadata"]["resourceVersion"]) for e in events]
    assert versions == sorted(versions)
    # Resume from the middle: only what came after.
    mid = events[2]["object"]["metadata"]["resourceVersion"]
    rest = watch_events(
        v1.list_namespaced_pod, NS, label_selector="g=1", resource_version=mid, timeout_seconds=1
    )
    assert [e["type"] for e in rest] == ["MODIFIED", "DELETED"]
    # After compaction the old version is gone: an ERROR event with a 410 Status.
    api.store.compact()
    gone = watch_events(v1.list_namespaced_pod, NS, resource_version=start, timeout_seconds=1)
    assert gone[-1]["type"] == "ERROR" and gone[-1]["object"]["code"] == 410


def test_live_watch_with_the_official_watch_helper(kc: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kc)
    rv = v1.list_namespaced_pod(NS).metadata.resource_version

    def writer() -> None:
        for i in range(3):
            v1.create_namespaced_pod(NS, pod(f"w{i}", {"g": "1"}))

    t = threading.Thread(target=writer)
    t.start()
    w = watch.Watch()
    got = []
    for ev in w.stream(v1.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=5):
        got.append(ev["object"].metadata.name)
        if len(got) == 3:
            w.stop()
    t.join()
    assert got == ["w0", "w1", "w2"]


def test_watch_without_version_starts_with_current_objects(kc: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kc)
    v1.create_namespaced_pod(NS, pod("a", {"g": "1"}))
    events = watch_events(v1.list_namespaced_pod, NS, timeout_seconds=1)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "a")]


CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.example.io"},
    "spec": {
        "group": "example.io",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "subresources": {"status": {}},
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "required": ["size"],
                                "properties": {"size": {"type": "integer", "minimum": 1}},
                            },
                            "status": {
                                "type": "object",
                                "properties": {"phase": {"type": "string"}},
                            },
                        },
                    }
                },
            }
        ],
    },
}


def test_crd_status_subresource_and_schema(kc: client.ApiClient) -> None:
    client.ApiextensionsV1Api(kc).create_custom_resource_definition(CRD)
    co = client.CustomObjectsApi(kc)
    args = ("example.io", "v1", NS, "widgets")
    w = co.create_namespaced_custom_object(
        *args,
        {
            "apiVersion": "example.io/v1",
            "kind": "Widget",
            "metadata": {"name": "w"},
            "spec": {"size": 2},
            "status": {"phase": "ignored"},
        },
    )
    assert w["status"] == {} and w["metadata"]["generation"] == 1
    # status through the main resource is ignored; spec through /status is ignored
    w["spec"]["size"] = 3
    w["status"] = {"phase": "nope"}
    w = co.replace_namespaced_custom_object(*args, "w", w)
    assert w["status"] == {} and w["metadata"]["generation"] == 2
    w["status"] = {"phase": "Ready"}
    w["spec"]["size"] = 9
    s = co.replace_namespaced_custom_object_status(*args, "w", w)
    assert s["status"] == {"phase": "Ready"} and s["spec"]["size"] == 3
    # A stale version on /status is refused.
    with pytest.raises(client.ApiException) as e:
        co.replace_namespaced_custom_object_status(*args, "w", w)
    assert e.value.status == 409
    patched = co.patch_namespaced_custom_object_status(
        *args, "w", {"status": {"phase": "Done"}}, _content_type="application/merge-patch+json"
    )
    assert patched["status"]["phase"] == "Done"
    # Schema violations: 422 with the offending field named.
    with pytest.raises(client.ApiException) as e:
        co.create_namespaced_custom_object(
            *args,
            {
                "apiVersion": "example.io/v1",
                "kind": "Widget",
                "metadata": {"name": "bad"},
                "spec": {"size": 0},
            },
        )
    assert e.value.status == 422 and "spec.size" in e.value.body
    with pytest.raises(client.ApiException) as e:
        co.list_namespaced_custom_object("example.io", "v1", NS, "gadgets")
    assert e.value.status == 404


def test_fault_injection(api: ApiServer, kc: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kc)
    v1.create_namespaced_pod(NS, pod("a"))
    for code, reason in [(403, "Forbidden"), (422, "Invalid"), (500, "InternalError")]:
        with api.fault(method="GET", path="/pods/a$", status=code, times=1):
            with pytest.raises(client.ApiException) as e:
                v1.read_namespaced_pod("a", NS)
            assert e.value.status == code and f'"reason": "{reason}"' in e.value.body
            assert v1.read_namespaced_pod("a", NS).metadata.name == "a"  # times=1
    with api.fault(method="PUT", status=429, retry_after=2):
        with pytest.raises(client.ApiException) as e:
            v1.replace_namespaced_pod("a", NS, v1.read_namespaced_pod("a", NS))
        assert e.value.status == 429 and e.value.headers["Retry-After"] == "2"
    with api.fault(method="GET", path="/pods$", status=410, watch=True):
        events = watch_events(v1.list_namespaced_pod, NS, timeout_seconds=1)
        assert events[-1]["object"]["code"] == 410
        assert v1.list_namespaced_pod(NS).items  # plain lists are not affected
    with api.fault(method="GET", delay=0.3, times=1):
        t0 = time.monotonic()
        v1.read_namespaced_pod("a", NS)
        assert time.monotonic() - t0 >= 0.3


def test_down_and_resume(api: ApiServer) -> None:
    kc = make_client(api.url)
    v1 = client.CoreV1Api(kc)
    v1.create_namespaced_pod(NS, pod("a"))
    api.stop_listening()
    with pytest.raises(Exception) as e:  # urllib3 MaxRetryError: connection refused
        v1.read_namespaced_pod("a", NS, _request_timeout=2)
    assert "refused" in str(e.value).lower() or "max retries" in str(e.value).lower()
    api.resume()
    assert v1.read_namespaced_pod("a", NS).metadata.name == "a"  # objects survive
    kc.close()


def test_request_log(api: ApiServer, kc: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kc)
    v1.create_namespaced_pod(NS, pod("a"))
    v1.read_namespaced_pod("a", NS)
    v1.list_namespaced_pod(NS)
    v1.patch_namespaced_pod_status(
        "a", NS, {"status": {"podIP": "10.0.0.1"}}, _content_type="application/merge-patch+json"
    )
    watch_events(v1.list_namespaced_pod, NS, timeout_seconds=0)
    assert api.calls() == {
        ("", "pods", "create"),
        ("", "pods", "get"),
        ("", "pods", "list"),
        ("", "pods/status", "patch"),
        ("", "pods", "watch"),
    }


def test_bookmarks_only_when_allowed(kc: client.ApiClient) -> None:
    v1 = client.CoreV1Api(kc)
    v1.create_namespaced_pod(NS, pod("a"))
    rv = v1.list_namespaced_pod(NS).metadata.resource_version
    marks = watch_events(
        v1.list_namespaced_pod,
        NS,
        resource_version=rv,
        allow_watch_bookmarks=True,
        timeout_seconds=2,
    )
    assert marks and {e["type"] for e in marks} == {"BOOKMARK"}
    assert marks[-1]["object"]["metadata"]["resourceVersion"] == rv
    plain = watch_events(v1.list_namespaced_pod, NS, resource_version=rv, timeout_seconds=1)
    assert plain == []


def test_leases_endpoints_and_field_selected_watch(kc: client.ApiClient) -> None:
    coord = client.CoordinationV1Api(kc)
    lease = coord.create_namespaced_lease(
        NS, {"metadata": {"name": "cache"}, "spec": {"holderIdentity": "d1"}}
    )
    lease.spec.holder_identity = "d2"
    coord.replace_namespaced_lease("cache", NS, lease)
    lease.spec.holder_identity = "d3"  # still the version read before d2's write
    with pytest.raises(client.ApiException) as e:
        coord.replace_namespaced_lease("cache", NS, lease)
    assert e.value.status == 409
    assert coord.read_namespaced_lease("cache", NS).spec.holder_identity == "d2"
    v1 = client.CoreV1Api(kc)
    v1.create_namespaced_endpoints(NS, {"metadata": {"name": "svc"}, "subsets": []})
    start = v1.list_namespaced_pod(NS).metadata.resource_version
    v1.create_namespaced_pod(NS, pod("a", node="n1"))
    v1.create_namespaced_pod(NS, pod("b", node="n2"))
    events = watch_events(
        v1.list_namespaced_pod,
        NS,
        field_selector="spec.nodeName=n2",
        resource_version=start,
        timeout_seconds=1,
    )
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "b")]
