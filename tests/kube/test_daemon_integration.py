"""The headline scenario end to end: real daemons, real Valkey, the emulated API.

The API server goes away, the primary is killed: Valkey still fails over (the data plane
never waits on the API), and once the API answers again the primary Service's EndpointSlice,
the role labels and the ValkeyGroup status converge on the new primary and epoch.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

import pytest
from kubernetes import client

from gungnir.kube import KubeBackend
from gungnir.kube.publisher import KubeConfigPublisher
from gungnir.kube.routing import slice_name
from gungnir.local import start_group
from gungnir.runtime.cluster import cluster_docs
from gungnir.runtime.config import load
from gungnir.runtime.daemon import Daemon

from .apiserver import ApiServer
from .conftest import NS, Kubelet, create_group, fast_api, install_crd, run, until

pytestmark = pytest.mark.slow
GROUP = "demo"


def _slice(api: ApiServer) -> dict[str, Any]:
    kind = api.store.kind("discovery.k8s.io", "v1", "endpointslices")
    return api.store.get(kind, (NS, slice_name(f"{GROUP}-primary")))


def _routed(api: ApiServer) -> tuple[int, str, list[str]]:
    s = _slice(api)
    ann = s["metadata"]["annotations"]
    names = [ep["targetRef"]["name"] for ep in s.get("endpoints") or []]
    return int(ann["gungnir.io/epoch"]), ann["gungnir.io/primary"], names


def test_api_down_during_failover(
    api: ApiServer, kc: client.ApiClient, kubelet: Kubelet, tmp_path: Any
) -> None:
    install_crd(kc)
    create_group(kc, GROUP, voters=["d1", "d2", "d3"])

    async def main() -> None:
        with start_group(replicas=2) as g:
            for i, node in enumerate(g.nodes):  # the pods the group's nodes run in
                kubelet.run_pod(node.name, {"gungnir.io/group": GROUP}, f"10.0.0.{10 + i}")
            nodes = {n.name: (n.host, n.port) for n in g.nodes}
            docs = cluster_docs(nodes, tmp_path, group=GROUP)
            backends = {
                d["daemon"]["id"]: KubeBackend(
                    fast_api(api.url),
                    identity=d["daemon"]["id"],
                    daemon_selector="app.kubernetes.io/name=gungnir",
                    watch_timeout=5,
                )
                for d in docs
            }
            for b in backends.values():
                await b.start()
            # The bootstrap routing (epoch 0 names the initial primary).
            await backends["d1"].publish_routing(GROUP, 0, g.primary.name, "d1")
            daemons, publishers = {}, {}
            for doc in docs:
                name = doc["daemon"]["id"]
                publishers[name] = KubeConfigPublisher(backends[name])
                daemons[name] = Daemon(load(doc=doc, env={}), publisher=publishers[name])
                await daemons[name].start()

            def primaries() -> set[str | None]:
                return {d.groups[GROUP].state.config.primary for d in daemons.values()}

            try:
                await until(lambda: primaries() == {g.primary.name}, 10, "bootstrap")
                api.stop_listening()
                g.primary.kill(signal.SIGKILL)
                await until(
                    lambda: len(primaries()) == 1 and primaries() != {g.primary.name},
                    20,
                    "failover with the API down",
                )
                (new,) = primaries()
                new_node = next(n for n in g.nodes if n.name == new)
                assert new_node.info()["role"] == "master"  # Valkey failed over
                assert _routed(api) == (0, g.primary.name, [g.primary.name])  # API untouched
                epoch = next(iter(daemons.values())).groups[GROUP].state.config.epoch
                api.resume()
                await until(lambda: _routed(api) == (epoch, new, [new]), 20, "routing")
                b = backends["d1"]
                await until(lambda: b.pods(GROUP)[new].role == "primary", 10, "labels")
                await until(
                    lambda: any(p.done.get(GROUP) == epoch for p in publishers.values()),
                    20,
                    "labels and status applied",
                )
                vg = await asyncio.to_thread(
                    client.CustomObjectsApi(kc).get_namespaced_custom_object,
                    "gungnir.io",
                    "v1alpha1",
                    NS,
                    "valkeygroups",
                    GROUP,
                )
                assert (vg["status"]["epoch"], vg["status"]["primary"]) == (epoch, new)
            finally:
                for d in daemons.values():
                    await d.stop()
                for p in publishers.values():
                    await p.close()
                for b in backends.values():
                    await b.close()

    run(main(), timeout=120)
