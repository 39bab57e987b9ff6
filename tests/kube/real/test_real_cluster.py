"""The Kubernetes scenarios against a real cluster (scripts/kube-real-cluster.sh runs them).

Skipped unless GUNGNIR_KUBE_REAL=1. The script creates a scratch namespace, installs the
CRD, applies the ServiceAccount and Role from k8s/base there, and passes tokens for that
ServiceAccount (GUNGNIR_KUBE_TOKEN) and for one without any rights
(GUNGNIR_KUBE_NOPERM_TOKEN). Pods are bare pause containers labelled as a Valkey group:
routing, discovery and RBAC do not need Valkey itself. Fault injection needs the emulator,
so the API-down scenario runs there only.
"""

from __future__ import annotations

import asyncio
import os
import threading
import time
from typing import Any

import pytest
from kubernetes import client, config

from gungnir.kube import KubeApi, KubeBackend, KubeForbidden, RetryPolicy, StaleEpoch
from gungnir.kube.api import load_configuration
from gungnir.kube.routing import slice_name

from ..conftest import pod, run, until

pytestmark = pytest.mark.skipif(
    os.environ.get("GUNGNIR_KUBE_REAL") != "1", reason="needs a real cluster (GUNGNIR_KUBE_REAL=1)"
)
NS = os.environ.get("GUNGNIR_KUBE_NAMESPACE", "gungnir-e2e")
IMAGE = os.environ.get("GUNGNIR_KUBE_TEST_IMAGE", "registry.k8s.io/pause:3.10")
# The names k8s/base pins its Role's writes to (resourceNames): the scenarios run with that
# very Role, so they use the example deployment's group, pods and Service.
GROUP = "valkey"
SERVICE = "valkey-primary"


def admin() -> client.ApiClient:
    return config.new_client_from_config()


def as_token(token_var: str) -> KubeApi:
    """A backend client with the kubeconfig's server and CA, but a ServiceAccount token."""
    path = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    cfg = load_configuration(
        kubeconfig=path or os.path.expanduser(config.KUBE_CONFIG_DEFAULT_LOCATION)
    )
    cfg.api_key = {"authorization": os.environ[token_var]}
    cfg.api_key_prefix = {"authorization": "Bearer"}
    cfg.cert_file = cfg.key_file = None
    return KubeApi(
        configuration=cfg,
        namespace=NS,
        retry=RetryPolicy(attempts=3, base=0.1, cap=1.0, deadline=5.0),
    )


@pytest.fixture(scope="module")
def pods() -> dict[str, Any]:
    v1 = client.CoreV1Api(admin())
    for i in range(3):
        body = pod(f"{GROUP}-{i}", {"gungnir.io/group": GROUP})
        body["spec"] = {"containers": [{"name": "pause", "image": IMAGE}]}
        v1.create_namespaced_pod(NS, body)
    v1.create_namespaced_service(
        NS,
        {
            "metadata": {"name": SERVICE},
            "spec": {"ports": [{"name": "valkey", "port": 6379, "protocol": "TCP"}]},
        },
    )
    client.CustomObjectsApi(admin()).create_namespaced_custom_object(
        "gungnir.io",
        "v1alpha1",
        NS,
        "valkeygroups",
        {
            "apiVersion": "gungnir.io/v1alpha1",
            "kind": "ValkeyGroup",
            "metadata": {"name": GROUP},
            "spec": {"voters": ["a", "b", "c"], "service": SERVICE},
        },
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        items = v1.list_namespaced_pod(NS, label_selector=f"gungnir.io/group={GROUP}").items
        if len(items) == 3 and all(p.status.pod_ip for p in items):
            return {p.metadata.name: p for p in items}
        time.sleep(1)
    raise AssertionError("pods did not get IPs within 180s")


def backend() -> KubeBackend:
    return KubeBackend(
        as_token("GUNGNIR_KUBE_TOKEN"),
        identity="e2e",
        daemon_selector="app.kubernetes.io/name=gungnir",
        watch_timeout=30,
    )


def test_routing_moves_in_one_update_and_never_names_two_pods(pods: dict[str, Any]) -> None:
    disc = client.DiscoveryV1Api(admin())

    async def scenario() -> None:
        b = backend()
        await b.start()
        first = await b.publish_routing(GROUP, 1, f"{GROUP}-0", "e2e")
        seen: list[int] = []
        stop = threading.Event()

        def watcher() -> None:
            from kubernetes import watch

            w = watch.Watch()
            for e in w.stream(
                disc.list_namespaced_endpoint_slice,
                NS,
                label_selector=f"kubernetes.io/service-name={SERVICE}",
                resource_version=first.resource_version,
                timeout_seconds=60,
            ):
                seen.append(len(e["object"].endpoints or []))
                if stop.is_set():
                    w.stop()

        t = threading.Thread(target=watcher, daemon=True)
        t.start()
        for epoch in range(2, 8):
            await b.publish_routing(GROUP, epoch, None, "e2e")
            await b.publish_routing(GROUP, epoch, f"{GROUP}-{epoch % 3}", "e2e")
        await until(lambda: len(seen) >= 12, 30, "watch events")
        stop.set()
        assert max(seen) == 1
        slices = disc.list_namespaced_endpoint_slice(
            NS, label_selector=f"kubernetes.io/service-name={SERVICE}"
        ).items
        assert [s.metadata.name for s in slices] == [slice_name(SERVICE)]
        await b.close()

    run(scenario(), timeout=120)


def test_stale_resource_version_and_stale_epoch_are_refused(pods: dict[str, Any]) -> None:
    disc = client.DiscoveryV1Api(admin())

    async def scenario() -> None:
        b = backend()
        await b.start()
        await b.publish_routing(GROUP, 20, f"{GROUP}-1", "e2e")
        cur = disc.read_namespaced_endpoint_slice(slice_name(SERVICE), NS)
        a_body, b_body = (
            client.ApiClient().sanitize_for_serialization(cur),
            client.ApiClient().sanitize_for_serialization(cur),
        )
        a_body["metadata"]["annotations"]["gungnir.io/leader"] = "a"
        b_body["metadata"]["annotations"]["gungnir.io/leader"] = "b"
        disc.replace_namespaced_endpoint_slice(slice_name(SERVICE), NS, a_body)
        with pytest.raises(client.ApiException) as e:
            disc.replace_namespaced_endpoint_slice(slice_name(SERVICE), NS, b_body)
        assert e.value.status == 409  # exactly one of two writers with the same version wins
        with pytest.raises(StaleEpoch):
            await b.publish_routing(GROUP, 19, f"{GROUP}-2", "old-leader")
        await b.close()

    run(scenario(), timeout=120)


def test_pod_restart_with_new_ip_is_followed(pods: dict[str, Any]) -> None:
    v1 = client.CoreV1Api(admin())

    async def scenario() -> None:
        b = backend()
        await b.start()
        name = f"{GROUP}-2"
        old_uid = b.pods(GROUP)[name].uid
        v1.delete_namespaced_pod(name, NS, grace_period_seconds=0)
        await until(lambda: name not in b.pods(GROUP), 60, "pod gone")
        body = pod(name, {"gungnir.io/group": GROUP})
        body["spec"] = {"containers": [{"name": "pause", "image": IMAGE}]}
        v1.create_namespaced_pod(NS, body)
        await until(
            lambda: (p := b.pods(GROUP).get(name)) is not None and p.ip and p.uid != old_uid,
            120,
            "pod back with an IP",
        )
        now = v1.read_namespaced_pod(name, NS)
        assert b.pods(GROUP)[name].ip == now.status.pod_ip
        assert b.state[GROUP].pods.informer.lists == 1  # followed by the watch, no relist
        await b.close()

    run(scenario(), timeout=240)


def test_rbac_suffices_for_every_operation(pods: dict[str, Any]) -> None:
    from gungnir.kube.groups import report_spec, request_switchover

    async def scenario() -> None:
        b = backend()
        await b.start()
        await b.publish_routing(GROUP, 30, f"{GROUP}-0", "e2e")
        await b.reconcile_labels(GROUP, 30, {f"{GROUP}-0": "primary", f"{GROUP}-1": "replica"})
        b.event(GROUP, "LeaderElected", "e2e")
        b.event(GROUP, "LeaderElected", "e2e")
        await until(lambda: b.events.posted == 2, 30, "events")
        await b.record_config(GROUP, epoch=30, primary=f"{GROUP}-0", leader="e2e")
        await report_spec(b.api, b.state[GROUP].obj, [], time.time())
        await request_switchover(b.api, GROUP, "any")
        await until(lambda: b.switchover_request(GROUP) == "any", 30, "switchover")
        assert await b.ack_switchover(GROUP, "any")
        assert b.stats.errors("forbidden") == 0 and b.events.failed == 0
        await b.close()

    run(scenario(), timeout=120)


def test_forbidden_is_typed_and_counted(pods: dict[str, Any]) -> None:
    k = as_token("GUNGNIR_KUBE_NOPERM_TOKEN")
    with pytest.raises(KubeForbidden) as e:
        asyncio.run(k.call("list", "pods", k.core.list_namespaced_pod, NS))
    assert e.value.status == 403 and "forbidden" in str(e.value).lower()
    assert k.stats.errors("forbidden") == 1
    k.close()
