"""End to end: the failover's leader dies before its routing lands (issue 16, item 2).

Three daemons wired as ``gungnir run --kubernetes`` wires them, real Valkey, the emulated
API. The API goes down, the primary is killed, the daemons fail over; the leader of that
epoch is then stopped before the API is back. The two daemons left must route, label and
record the new config on their own: the leader was once the only writer, and the primary
Service kept naming the old, dead primary until the next failover.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from gungnir.core import PublishConfig
from gungnir.local import start_group

from .apiserver import ApiServer
from .conftest import run, until
from .kube_daemons import GROUP, VOTERS, KubeCluster
from .test_routing_authority import check

pytestmark = pytest.mark.slow


def status_of(kc: client.ApiClient) -> tuple[Any, Any]:
    vg = client.CustomObjectsApi(kc).get_namespaced_custom_object(
        "gungnir.io", "v1alpha1", "default", "valkeygroups", GROUP
    )
    status = vg.get("status") or {}
    return status.get("epoch"), status.get("primary")


def test_leader_stopped_before_routing_lands_the_others_route(
    api: ApiServer, kc: client.ApiClient, tmp_path: Path
) -> None:
    led: dict[int, str] = {}

    def observer(daemon: str, group: str, item: Any, now: float) -> None:
        if isinstance(item, PublishConfig):
            led.setdefault(item.config.epoch, daemon)

    async def main() -> None:
        with start_group(replicas=2) as g:
            c = KubeCluster(api, kc, tmp_path)
            c.setup(g.nodes)
            try:
                for n in VOTERS:
                    await c.start(n, observer=observer)
                await until(
                    lambda: c.routed() == (0, g.primary.name, [g.primary.name]),
                    15,
                    "bootstrap routing",
                )
                api.stop_listening()
                g.primary.kill(signal.SIGKILL)
                await until(lambda: any(e >= 1 for e in led), 20, "a failover with the API down")
                epoch = max(led)
                leader = led[epoch]
                await c.wirings.pop(leader).stop()  # dies before anything reached the API
                await until(
                    lambda: len(c.primaries()) == 1 and c.primaries() != {g.primary.name},
                    20,
                    "the others adopt the new config",
                )
                (new,) = c.primaries()
                assert c.routed() == (0, g.primary.name, [g.primary.name])  # API untouched
                api.resume()
                await until(lambda: c.routed() == (epoch, new, [new]), 20, "routing converges")
                b = next(iter(c.wirings.values())).backend
                await until(lambda: b.pods(GROUP)[new].role == "primary", 15, "labels")
                await until(lambda: status_of(kc) == (epoch, new), 15, "status")
                assert check(api, grace=30.0) == []  # the daemons' reconcile interval
            finally:
                await c.stop()

    run(main(), timeout=90)
