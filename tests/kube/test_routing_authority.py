"""Routing, labels and status from the highest known config, by any daemon (issue 16, item 2).

Each of the four holes reproduced against the emulator is a test here: the leader dies
before its routing lands; the primary's pod comes back at a new IP; a daemon still holding
its epoch-0 bootstrap config meets a recreated old primary; a 409 while demoting the old
primary. Every test replays the API server's recorded history through the same checker the
fault campaign uses (:func:`gungnir.kube.history.check_routing`).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from gungnir.core.state import Config
from gungnir.kube.history import Write, check_routing
from gungnir.kube.labels import reconcile_roles
from gungnir.kube.publisher import KubeConfigPublisher
from gungnir.kube.routing import slice_name
from gungnir.kube.run import KubeRunOptions, KubeWiring, build_config

from .apiserver import ApiServer
from .conftest import DAEMONS, GROUP, NS, Kubelet, backend, make_client, run, until

GRACE = 10.0
C0 = Config(0, "cache-0", ("cache-1", "cache-2"))
C1 = Config(1, "cache-1", ("cache-0", "cache-2"))
C2 = Config(2, "cache-2", ("cache-0", "cache-1"))


def recorded(api: ApiServer) -> list[Write]:
    """The pod and slice changes the emulator accepted, in order."""
    with api.store.cond:
        changes = list(api.store.history)
    return [
        Write(c.at, c.plural, c.new["metadata"]["name"], None if c.type == "DELETED" else c.new)
        for c in changes
        if c.plural in ("pods", "endpointslices")
    ]


def check(api: ApiServer, grace: float = GRACE) -> list[str]:
    """The history checker over everything the emulator accepted: never two primaries, and
    the slice naming a pod not labelled primary for at most ``grace`` (the labels follow
    routing within one pass; the bound is loose because the shared 2-core test machine
    runs at load 8 at times, and 409s must be retried)."""
    return check_routing(recorded(api), grace=grace, end=time.monotonic())


def primaries(kc: client.ApiClient) -> set[str]:
    pods = client.CoreV1Api(kc).list_namespaced_pod(NS, label_selector=f"gungnir.io/group={GROUP}")
    return {
        p.metadata.name
        for p in pods.items
        if (p.metadata.labels or {}).get("gungnir.io/role") == "primary"
    }


def routed(api: ApiServer) -> tuple[int, str, list[str]] | None:
    kind = api.store.kind("discovery.k8s.io", "v1", "endpointslices")
    try:
        s = api.store.get(kind, (NS, slice_name(f"{GROUP}-primary")))
    except Exception:
        return None
    ann = s["metadata"]["annotations"]
    addrs = [a for ep in s.get("endpoints") or [] for a in ep["addresses"]]
    return int(ann["gungnir.io/epoch"]), ann["gungnir.io/primary"], addrs


def status_epoch(kc: client.ApiClient) -> Any:
    vg = client.CustomObjectsApi(kc).get_namespaced_custom_object(
        "gungnir.io", "v1alpha1", NS, "valkeygroups", GROUP
    )
    return (vg.get("status") or {}).get("epoch")


def test_leader_gone_before_routing_lands_another_daemon_publishes(
    api: ApiServer, kc: client.ApiClient, cluster: Kubelet, tmp_path: Path
) -> None:
    async def scenario() -> None:
        leader = backend(api.url)
        await leader.start()
        pub = KubeConfigPublisher(leader, reconcile_interval=0.2)
        await pub.publish(GROUP, C0, {}, leader="")
        await until(lambda: routed(api) == (0, "cache-0", ["10.0.0.10"]), what="bootstrap")
        # The leader of epoch 1 fails over while the API is down, then dies.
        api.stop_listening()
        await pub.publish(GROUP, C1, {})
        await pub.close()
        await leader.close()
        api.resume()
        # Daemon n2 holds the config (its core adopted the leader's announcement): the hook
        # the daemon calls on every config change is all it takes.
        other = backend(api.url)
        await other.start()
        opts = KubeRunOptions("n2", tmp_path / "n2", DAEMONS, "a-secret-of-8+", namespace=NS)
        wiring = KubeWiring.create(build_config(other, opts), other)
        assert wiring.daemon.on_config is not None
        wiring.daemon.on_config(GROUP, C1)
        await until(lambda: routed(api) == (1, "cache-1", ["10.0.0.11"]), 10, "routing by n2")
        await until(lambda: primaries(kc) == {"cache-1"}, 10, "labels by n2")
        await until(lambda: status_epoch(kc) == 1, 10, "status by n2")
        await wiring.publisher.close()
        await other.close()
        assert check(api) == []

    run(scenario())


def test_primary_pod_at_a_new_ip_is_republished(
    api: ApiServer, kc: client.ApiClient, cluster: Kubelet
) -> None:
    async def scenario() -> None:
        b = backend(api.url)
        await b.start()
        pub = KubeConfigPublisher(b)  # the default (slow) period: pod events must do it
        await pub.publish(GROUP, C1, {})
        await until(lambda: routed(api) == (1, "cache-1", ["10.0.0.11"]), what="routing")
        v1 = client.CoreV1Api(kc)
        failed = {"status": {"phase": "Failed"}}
        v1.patch_namespaced_pod_status(
            "cache-1", NS, failed, _content_type="application/merge-patch+json"
        )
        await until(lambda: routed(api) == (1, "cache-1", []), 10, "a failed pod not routed")
        cluster.set_ip("cache-1", "10.0.0.11")  # running again
        await until(lambda: routed(api) == (1, "cache-1", ["10.0.0.11"]), 10, "routed again")
        v1.delete_namespaced_pod("cache-1", NS)
        # Its IP may go to another pod: routing names no address rather than a dead one.
        await until(lambda: routed(api) == (1, "cache-1", []), 10, "dead IP withdrawn")
        cluster.run_pod("cache-1", {"gungnir.io/group": GROUP}, "10.0.0.99", "n2")
        await until(lambda: routed(api) == (1, "cache-1", ["10.0.0.99"]), 10, "new IP")
        await until(lambda: primaries(kc) == {"cache-1"}, 10, "label back on the new pod")
        cluster.restart_pod("cache-1", "10.0.0.98")  # and a restart in one go
        await until(lambda: routed(api) == (1, "cache-1", ["10.0.0.98"]), 10, "newer IP")
        await pub.close()
        await b.close()
        assert check(api) == []

    run(scenario())


def test_stale_bootstrap_config_never_relabels_a_recreated_old_primary(
    api: ApiServer, kc: client.ApiClient, cluster: Kubelet
) -> None:
    async def scenario() -> None:
        b1, b2 = backend(api.url), backend(api.url)
        await b1.start()
        await b2.start()
        leader = KubeConfigPublisher(b1, reconcile_interval=0.1)
        stale = KubeConfigPublisher(b2, reconcile_interval=0.1)
        await leader.publish(GROUP, C0, {}, leader="")
        await stale.publish(GROUP, C0, {}, leader="")  # its core never hears of epoch 1
        await until(lambda: primaries(kc) == {"cache-0"}, what="bootstrap labels")
        await leader.publish(GROUP, C1, {})
        await until(lambda: primaries(kc) == {"cache-1"}, what="epoch 1 labels")
        await until(lambda: status_epoch(kc) == 1, what="epoch 1 status")
        await leader.close()
        cluster.restart_pod("cache-0", "10.0.0.50")  # the old primary, recreated unlabelled
        await until(
            lambda: "cache-0" in b2.pods(GROUP) and b2.pods(GROUP)["cache-0"].ip == "10.0.0.50"
        )
        passes = getattr(stale, "passes", 0)
        await until(
            lambda: len(primaries(kc)) > 1 or getattr(stale, "passes", 0) >= passes + 3,
            10,
            "three reconcile passes of the stale daemon",
        )
        assert primaries(kc) == {"cache-1"}
        assert routed(api) == (1, "cache-1", ["10.0.0.11"])
        await stale.close()
        await b1.close()
        await b2.close()
        assert check(api) == []

    run(scenario())


def test_a_config_older_than_the_slice_writes_no_labels_and_no_status(
    api: ApiServer, kc: client.ApiClient, cluster: Kubelet
) -> None:
    async def scenario() -> None:
        b1, b2 = backend(api.url), backend(api.url)
        await b1.start()
        await b2.start()
        await b1.publish_routing(GROUP, 1, "cache-1", "n1")  # only the slice shows epoch 1
        stale = KubeConfigPublisher(b2, reconcile_interval=0.05)
        stale.adopt(GROUP, C0)
        await until(lambda: stale.passes >= 3 and b2.publisher.stale >= 1, what="refused")
        assert b2.publisher.seen_epoch[GROUP] == 1
        assert primaries(kc) == set() and status_epoch(kc) is None
        assert routed(api) == (1, "cache-1", ["10.0.0.11"])
        await stale.close()
        await b1.close()
        await b2.close()

    run(scenario())


def test_conflict_while_demoting_the_old_primary_is_retried_in_order(
    api: ApiServer, kc: client.ApiClient, cluster: Kubelet
) -> None:
    async def scenario() -> None:
        b = backend(api.url)
        await b.start()
        roles0 = {"cache-0": "primary", "cache-1": "replica", "cache-2": "replica"}
        assert (await b.reconcile_labels(GROUP, 0, roles0)).clean
        await until(lambda: b.pods(GROUP)["cache-0"].role == "primary", what="cache sees")
        cached = b.pods(GROUP)
        api.churn_pods(["cache-0"])  # a kubelet status sync lands on the old primary
        roles1 = {"cache-0": "replica", "cache-1": "primary", "cache-2": "replica"}
        report = await reconcile_roles(b.api, cached, roles1, 1)
        assert report.clean, report
        assert primaries(kc) == {"cache-1"}
        await b.close()
        assert check(api) == []

    run(scenario())


@pytest.fixture
def churning() -> Iterator[ApiServer]:
    with ApiServer(pod_churn=0.05) as server:
        yield server


def test_failovers_under_a_409_storm_never_label_two_primaries(
    churning: ApiServer, tmp_path: Path
) -> None:
    kc = make_client(churning.url)
    from .conftest import create_group, install_crd

    install_crd(kc)
    kubelet = Kubelet(kc)
    kubelet.valkey_group()
    kubelet.daemons(["n1", "n2", "n3"])
    create_group(kc)

    async def scenario() -> None:
        bs = [backend(churning.url) for _ in range(3)]
        for b in bs:
            await b.start()
        pubs = [KubeConfigPublisher(b, reconcile_interval=0.05) for b in bs]
        for cfg, ip in ((C0, "10.0.0.10"), (C1, "10.0.0.11"), (C2, "10.0.0.12")):
            for i, p in enumerate(pubs):  # every daemon holds it; one of them led it
                await p.publish(GROUP, cfg, {}, leader="n1" if i == cfg.epoch else "")
            want = (cfg.epoch, cfg.primary, [ip])
            await until(lambda w=want: routed(churning) == w, 15, f"routing {want}")
            await until(lambda w=want: primaries(kc) == {w[1]}, 15, f"labels {want}")
        assert churning.churned > 0
        for p in pubs:
            await p.close()
        for b in bs:
            await b.close()
        conflicts = [r for r in churning.requests if r.status == 409]
        assert conflicts, "the storm made no conflict: the test proves nothing"
        assert check(churning) == []

    try:
        run(scenario())
    finally:
        kc.close()
