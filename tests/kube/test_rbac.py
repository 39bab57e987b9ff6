"""The Role in k8s/ grants exactly the (apiGroup, resource, verb) triples the code uses.

Two independent views of "what the code uses" must agree with each other and with the Role:
the requests the backend actually sent to the emulator (by its User-Agent) while exercising
every operation, and the call sites found statically in the source.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from kubernetes import client

import gungnir.kube as kube_pkg
from gungnir.kube import model
from gungnir.kube.api import USER_AGENT
from gungnir.kube.events import ELECTED
from gungnir.kube.groups import report_spec, request_switchover
from gungnir.kube.labels import reconcile_roles
from gungnir.kube.routing import slice_name

from .apiserver import ApiServer
from .conftest import GROUP, Kubelet, backend, run, until
from .test_manifests import render

API_GROUP_OF = {
    "pods": "",
    "events": "",
    "endpointslices": "discovery.k8s.io",
    "valkeygroups": "gungnir.io",
}

Triple = tuple[str, str, str]


def granted() -> set[Triple]:
    _, objs = render()
    roles = [o for o in objs if o["kind"] in ("Role", "ClusterRole")]
    assert [r["metadata"]["name"] for r in roles] == ["gungnir"]
    out: set[Triple] = set()
    for rule in roles[0]["rules"]:
        assert "*" not in rule["verbs"] and "*" not in rule["resources"]
        for g in rule["apiGroups"]:
            for r in rule["resources"]:
                for v in rule["verbs"]:
                    out.add((g, r, v))
    binding = next(o for o in objs if o["kind"] == "RoleBinding")
    ds = next(o for o in objs if o["kind"] == "DaemonSet")
    assert binding["roleRef"]["name"] == "gungnir"
    assert binding["subjects"][0]["name"] == ds["spec"]["template"]["spec"]["serviceAccountName"]
    return out


def _resource(node: ast.expr) -> str | None:
    """Evaluate a resource expression (a literal or an f-string over model constants).

    ``self.resource`` (the informer's own list call) is None: the ``Informer(...)`` call
    sites name those resources, and they are counted there.
    """
    if ast.unparse(node) == "self.resource":
        return None
    return str(eval(compile(ast.Expression(node), "<rbac>", "eval"), vars(model)))


def static_calls() -> set[Triple]:
    out: set[Triple] = set()
    for path in Path(kube_pkg.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            fn = node.func
            name = fn.attr if isinstance(fn, ast.Attribute) else getattr(fn, "id", "")
            if name == "call" and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant):
                verb, res = node.args[0].value, _resource(node.args[1])
                if res is not None:
                    out.add((API_GROUP_OF[res.split("/")[0]], res, verb))
            elif name == "Informer" and len(node.args) >= 2:
                res = _resource(node.args[1])
                assert res is not None
                out |= {(API_GROUP_OF[res], res, "list"), (API_GROUP_OF[res], res, "watch")}
    return out


def exercised(api: ApiServer, cluster: Kubelet) -> set[Triple]:
    """Drive every backend operation against the emulator; return what it requested."""

    async def scenario() -> None:
        b = backend(api.url)
        await b.start()
        await b.publish_routing(GROUP, 1, "cache-0", "gungnir-n1")  # get + create
        await b.publish_routing(GROUP, 2, "cache-1", "gungnir-n1")  # get + update
        await b.reconcile_labels(GROUP, 2, {"cache-0": "fenced", "cache-1": "primary"})
        stale = b.pods(GROUP)
        api.churn_pods(["cache-2"])  # a kubelet status sync: the patch gets 409, then get
        await reconcile_roles(b.api, stale, {"cache-2": "replica"}, 2)
        b.event(GROUP, ELECTED, "x")
        b.event(GROUP, ELECTED, "x")  # the repeat patches the count
        await until(lambda: b.events.posted == 2, what="events")
        await b.record_config(GROUP, epoch=2, primary="cache-1", leader="gungnir-n1")
        await report_spec(b.api, b.state[GROUP].obj, ["bad"], 0.0)
        await request_switchover(b.api, GROUP, "cache-2")
        await until(lambda: b.switchover_request(GROUP) == "cache-2", what="switchover")
        await b.ack_switchover(GROUP, "cache-2")
        await b.close()

    run(scenario())
    return api.calls(agent=USER_AGENT)


def test_rbac_matches_the_calls(api: ApiServer, cluster: Kubelet) -> None:
    used = exercised(api, cluster)
    static = static_calls()
    assert used == static, f"scenario missed {static - used}, source missed {used - static}"
    rules = granted()
    missing, unused = used - rules, rules - used
    assert not missing and not unused, (
        f"missing from the Role: {sorted(missing)}; granted but unused: {sorted(unused)}"
    )


def test_the_check_is_not_vacuous(api: ApiServer, cluster: Kubelet) -> None:
    rules = granted()
    assert ("", "pods", "patch") in rules and ("", "pods", "delete") not in rules
    with pytest.raises(client.ApiException):  # the emulator logs failures as calls too
        client.CoreV1Api(client.ApiClient(_cfg(api))).delete_namespaced_pod("nope", "default")
    assert ("", "pods", "delete") not in api.calls(agent=USER_AGENT)  # other agents excluded
    assert ("", "pods", "delete") in api.calls()


def _cfg(api: ApiServer) -> client.Configuration:
    cfg = client.Configuration()
    cfg.host = api.url
    return cfg


def test_writes_are_pinned_to_this_deployments_objects() -> None:
    """The writes that can name their object are granted on exactly the objects the rendered
    deployment has: the StatefulSet's pods, the group's slice, the group itself."""
    _, objs = render()
    role = next(o for o in objs if o["kind"] == "Role")
    pinned: dict[Triple, set[str]] = {}
    for rule in role["rules"]:
        for g in rule["apiGroups"]:
            for r in rule["resources"]:
                for v in rule["verbs"]:
                    pinned.setdefault((g, r, v), set()).update(rule.get("resourceNames") or ["*"])
    sts = next(o for o in objs if o["kind"] == "StatefulSet")
    pods = {f"{sts['metadata']['name']}-{i}" for i in range(sts["spec"]["replicas"])}
    groups = [o for o in objs if o["kind"] == "ValkeyGroup"]
    names = {g["metadata"]["name"] for g in groups}
    slices = {
        slice_name(g["spec"].get("service") or f"{g['metadata']['name']}-primary") for g in groups
    }
    assert pinned[("", "pods", "patch")] == pods
    assert pinned[("discovery.k8s.io", "endpointslices", "update")] == slices
    assert pinned[("discovery.k8s.io", "endpointslices", "get")] == slices
    assert pinned[("gungnir.io", "valkeygroups", "patch")] == names
    assert pinned[("gungnir.io", "valkeygroups/status", "update")] == names
    # Reads the informers list and watch cannot be pinned; neither can Event names.
    assert pinned[("", "pods", "list")] == {"*"}
    assert pinned[("", "events", "create")] == {"*"}
