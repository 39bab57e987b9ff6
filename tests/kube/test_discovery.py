"""Discovery: pods followed by watch (new IPs without a reset, relist on 410), and peers."""

from __future__ import annotations

import asyncio

from gungnir.kube.discovery import GroupPods, peer_set

from .apiserver import ApiServer
from .conftest import GROUP, Kubelet, backend, fast_api, run, until


def test_pod_restart_with_new_ip_is_followed_without_a_reset(
    api: ApiServer, kubelet: Kubelet
) -> None:
    kubelet.valkey_group()

    async def scenario() -> None:
        k = fast_api(api.url)
        gp = GroupPods(k, GROUP, watch_timeout=30)
        changes: list[tuple[str, str, str | None]] = []
        gp.subscribe(lambda t, p: changes.append((t, p.name, p.ip)))
        task = asyncio.create_task(gp.informer.run())
        await gp.informer.synced.wait()
        assert {n: p.ip for n, p in gp.pods().items()} == {
            "cache-0": "10.0.0.10",
            "cache-1": "10.0.0.11",
            "cache-2": "10.0.0.12",
        }
        await asyncio.to_thread(kubelet.restart_pod, "cache-1", "10.0.0.99")
        await until(lambda: gp.address("cache-1") == "10.0.0.99", what="new IP")
        kubelet.set_ip("cache-2", "10.0.0.98")  # an IP change in place
        await until(lambda: gp.address("cache-2") == "10.0.0.98", what="in-place IP")
        assert gp.informer.lists == 1 and gp.informer.watches == 1  # no relist, one stream
        assert ("DELETED", "cache-1", "10.0.0.11") in changes
        assert changes[-1] == ("MODIFIED", "cache-2", "10.0.0.98")
        gp.informer.stop()
        await task
        k.close()

    run(scenario())


def test_watch_410_relists_and_keeps_the_cache_right(api: ApiServer, kubelet: Kubelet) -> None:
    kubelet.valkey_group()

    async def scenario() -> None:
        k = fast_api(api.url)
        gp = GroupPods(k, GROUP, watch_timeout=30)
        task = asyncio.create_task(gp.informer.run())
        await gp.informer.synced.wait()
        # While the API is away, a pod goes and the history is compacted past our version:
        # resuming the watch gets 410 Gone, and only a relist can tell what changed.
        api.stop_listening()
        await until(lambda: gp.informer.last_error is not None, what="watch error")
        api.store.delete(api.store.kind("", "v1", "pods"), ("default", "cache-2"))
        api.store.compact()
        api.resume()
        await until(lambda: gp.informer.lists >= 2, 10, "relist")
        await until(lambda: set(gp.pods()) == {"cache-0", "cache-1"}, what="cache after 410")
        assert k.stats.snapshot().get(("watch", "pods", "gone"), 0) >= 1
        gp.informer.stop()
        await task
        k.close()

    run(scenario())


def test_watch_survives_api_outage_by_resuming(api: ApiServer, kubelet: Kubelet) -> None:
    kubelet.valkey_group()

    async def scenario() -> None:
        k = fast_api(api.url)
        gp = GroupPods(k, GROUP, watch_timeout=30)
        task = asyncio.create_task(gp.informer.run())
        await gp.informer.synced.wait()
        api.stop_listening()
        await until(lambda: gp.informer.last_error is not None, what="watch error")
        assert gp.address("cache-0") == "10.0.0.10"  # reads still answer from the cache
        api.resume()
        await asyncio.to_thread(kubelet.set_ip, "cache-0", "10.0.0.50")
        await until(lambda: gp.address("cache-0") == "10.0.0.50", 10, "resumed watch")
        assert gp.informer.lists == 1  # resumed from its version: no relist needed
        gp.informer.stop()
        await task
        k.close()

    run(scenario())


def _daemon(name: str, node: str, phase: str = "Running") -> dict:
    return {
        "metadata": {"name": name},
        "spec": {"nodeName": node},
        "status": {"phase": phase, "podIP": "10.1.0.1"},
    }


def test_peer_set_voters_by_node_or_pod_name() -> None:
    pods = [
        _daemon("gungnir-a", "n1"),
        _daemon("gungnir-b", "n2"),
        _daemon("gungnir-c", "n3"),
        _daemon("gungnir-d", "n4"),
        _daemon("gungnir-e", "n5", "Pending"),
    ]
    ps = peer_set(pods, ["n1", "gungnir-c", "n5"])
    assert [p.name for p in ps.voters] == ["gungnir-a", "gungnir-c"]
    assert [p.name for p in ps.observers] == ["gungnir-b", "gungnir-d"]
    assert ps.missing == ("n5",)  # still counts in the majority's denominator
    assert ps.voter_names == ("gungnir-a", "gungnir-c", "n5")


def test_backend_peers_follow_the_daemonset(api: ApiServer, cluster: Kubelet) -> None:
    async def scenario() -> None:
        b = backend(api.url)
        await b.start()
        ps = b.peers(GROUP)
        assert [p.node for p in ps.voters] == ["n1", "n2", "n3"]
        assert [p.node for p in ps.observers] == ["n4"]
        cluster.v1.delete_namespaced_pod("gungnir-n2", "default")
        await until(lambda: b.peers(GROUP).missing == ("n2",), what="voter gone")
        await b.close()

    run(scenario())
