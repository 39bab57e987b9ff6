"""The runtime's ConfigPublisher on Kubernetes, driven with the core's own Config."""

from __future__ import annotations

from kubernetes import client

from gungnir.core.state import Config
from gungnir.kube.publisher import KubeConfigPublisher, roles_for

from .apiserver import ApiServer
from .conftest import GROUP, NS, Kubelet, backend, run, until


def test_roles_for_fences_a_stale_primary_label() -> None:
    cfg = Config(3, "b", ("a", "c"))
    assert roles_for(cfg, {"a": "primary", "b": "replica", "c": None, "d": "primary"}) == {
        "a": "replica",
        "b": "primary",
        "c": "replica",
        "d": "fenced",
    }


def test_publish_routes_labels_records_and_notifies(
    api: ApiServer, kc: client.ApiClient, cluster: Kubelet
) -> None:
    async def scenario() -> None:
        b = backend(api.url)
        await b.start()
        pub = KubeConfigPublisher(b)
        await pub.publish(GROUP, Config(1, "cache-0", ("cache-1", "cache-2")), {})
        await until(lambda: b.publisher.converged(GROUP, 1, "cache-0"), what="routing 1")
        await until(lambda: b.pods(GROUP)["cache-0"].role == "primary", what="labels 1")
        await until(lambda: pub.done.get(GROUP) == 1, what="labels and status 1")
        await pub.publish(GROUP, Config(2, "cache-1", ("cache-0", "cache-2")), {})
        await until(lambda: b.publisher.converged(GROUP, 2, "cache-1"), what="routing 2")
        await until(lambda: pub.done.get(GROUP) == 2, what="labels and status 2")
        roles = {n: p.role for n, p in b.pods(GROUP).items()}
        assert roles == {"cache-0": "replica", "cache-1": "primary", "cache-2": "replica"}
        vg = client.CustomObjectsApi(kc).get_namespaced_custom_object(
            "gungnir.io", "v1alpha1", NS, "valkeygroups", GROUP
        )
        assert (vg["status"]["epoch"], vg["status"]["primary"]) == (2, "cache-1")
        # A late publish of an older config changes nothing (and writes nothing).
        mark = len(api.requests)
        await pub.publish(GROUP, Config(1, "cache-0", ("cache-1", "cache-2")), {})
        assert pub.latest[GROUP].epoch == 2 and GROUP not in b.publisher.pending
        assert b.pods(GROUP)["cache-1"].role == "primary"
        pub.notify(GROUP, "+promoted-slave", "cache-1")
        pub.notify(GROUP, "+odown", "cache-0")
        pub.notify(GROUP, "+sdown", "cache-0")  # not an Event: per-daemon noise
        await until(lambda: b.events.posted == 2, what="events")
        evs = client.CoreV1Api(kc).list_namespaced_event(NS).items
        got = {(e.involved_object.kind, e.involved_object.name, e.reason, e.type) for e in evs}
        assert got == {
            ("Pod", "cache-1", "ReplicaPromoted", "Normal"),
            ("ValkeyGroup", GROUP, "FailoverDetected", "Warning"),
        }
        assert not [r for r in api.requests[mark:] if r.method in ("PUT", "PATCH")]
        await pub.close()
        await b.close()

    run(scenario())


def test_labels_and_status_converge_after_an_outage(
    api: ApiServer, kc: client.ApiClient, cluster: Kubelet
) -> None:
    async def scenario() -> None:
        b = backend(api.url)
        await b.start()
        pub = KubeConfigPublisher(b, backoff_base=0.05, backoff_cap=0.2)
        api.stop_listening()
        await pub.publish(GROUP, Config(3, "cache-2", ("cache-0", "cache-1")), {})
        await until(lambda: pub.failures >= 2, what="retrying while the API is down")
        api.resume()
        await until(lambda: pub.done.get(GROUP) == 3, 20, "labels and status applied")
        vg = client.CustomObjectsApi(kc).get_namespaced_custom_object(
            "gungnir.io", "v1alpha1", NS, "valkeygroups", GROUP
        )
        assert (vg["status"]["epoch"], vg["status"]["primary"]) == (3, "cache-2")
        assert b.pods(GROUP)["cache-2"].role == "primary" or await until(
            lambda: b.pods(GROUP)["cache-2"].role == "primary", what="label seen"
        )
        await until(lambda: b.publisher.converged(GROUP, 3, "cache-2"), 20, "routing")
        await pub.close()
        await b.close()

    run(scenario())


def test_unknown_primary_leaves_routing_alone(api: ApiServer, cluster: Kubelet) -> None:
    async def scenario() -> None:
        b = backend(api.url)
        await b.start()
        pub = KubeConfigPublisher(b)
        await pub.publish(GROUP, Config(1, "cache-0", ("cache-1",)), {})
        await until(lambda: b.publisher.converged(GROUP, 1, "cache-0"), what="routing 1")
        await pub.publish(GROUP, Config(2, "10.0.0.99:6379", ("cache-0",)), {})
        assert GROUP not in b.publisher.pending  # nothing submitted: no blackholing
        assert b.publisher.published[GROUP].primary == "cache-0"
        await pub.close()
        await b.close()

    run(scenario())
