"""``run --kubernetes`` end to end: three daemons wired to the emulated API, real Valkey.

The daemons are started exactly as ``gungnir run --kubernetes`` starts them
(:func:`gungnir.kube.run.start_kubernetes`), one of them through the real command in a child
process; the official client talks to the emulator over HTTP; the "pods" are real
valkey-server processes (see ``kube_daemons.py``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from prometheus_client.parser import text_string_to_metric_families

from gungnir.core import Switchover
from gungnir.local import start_group, start_node

from .apiserver import ApiServer
from .conftest import NS, make_client, run, until
from .kube_daemons import GROUP, VOTERS, KubeCluster, restart_pod, scrape, slice_updates

pytestmark = pytest.mark.slow


def watch_slice(url: str, rv: str, out: list[dict[str, Any]], stop_epoch: int) -> None:
    """A concurrent reader of the primary Service's slice (what kube-proxy sees): every
    event from ``rv`` on, until one carries an epoch >= ``stop_epoch``."""
    kc = make_client(url)
    try:
        resp = client.DiscoveryV1Api(kc).list_namespaced_endpoint_slice(
            NS, watch=True, resource_version=rv, timeout_seconds=40, _preload_content=False
        )
        buf = b""
        for chunk in resp.stream(4096, decode_content=False):
            buf += chunk
            while b"\n" in buf:
                line, buf = buf.split(b"\n", 1)
                if not line.strip():
                    continue
                ev = json.loads(line)
                out.append(ev)
                ann = ev["object"]["metadata"].get("annotations") or {}
                if int(ann.get("gungnir.io/epoch", "-1")) >= stop_epoch:
                    resp.release_conn()
                    return
        resp.release_conn()
    finally:
        kc.close()


def metric(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def test_failover_moves_the_slice_in_one_update_never_naming_two_pods(
    api: ApiServer, kc: client.ApiClient, tmp_path: Path
) -> None:
    async def main() -> None:
        with start_group(replicas=2) as g:
            c = KubeCluster(api, kc, tmp_path)
            c.setup(g.nodes)
            try:
                await c.start("n1")
                await c.start("n2")
                proc = c.start_process("n3")  # the real `gungnir run --kubernetes`
                await until(lambda: c.primaries() == {g.primary.name}, 15, "bootstrap")
                await until(
                    lambda: c.routed() == (0, g.primary.name, [g.primary.name]),
                    10,
                    "the bootstrap config routed (the core publishes only failovers)",
                )
                text = await until_metrics(
                    c,
                    "n3",
                    lambda t: (
                        metric(t, "gungnir_node_up", node=g.primary.name) == 1
                        and metric(t, "gungnir_peers_reachable", group=GROUP) == 2
                    ),
                )
                assert metric(text, "gungnir_peers_reachable", group=GROUP) == 2
                s = c.slice()
                assert s is not None
                before = len(slice_updates(api))
                events: list[dict[str, Any]] = []
                reader = threading.Thread(
                    target=watch_slice,
                    args=(api.url, s["metadata"]["resourceVersion"], events, 1),
                    daemon=True,
                )
                reader.start()
                g.primary.kill(signal.SIGKILL)
                await until(
                    lambda: len(c.primaries()) == 1 and c.primaries() != {g.primary.name},
                    20,
                    "failover",
                )
                (new,) = c.primaries()
                epoch = c.wirings["n1"].daemon.groups[GROUP].state.config.epoch
                await until(lambda: c.routed() == (epoch, new, [new]), 10, "routing")
                await asyncio.to_thread(reader.join, 20)
                assert not reader.is_alive()
                # One write moved the Service: epoch and address together.
                writes = slice_updates(api)[before:]
                assert len(writes) == 1, writes
                assert [e["type"] for e in events] == ["MODIFIED"], events
                for e in events:
                    assert len(e["object"].get("endpoints") or []) <= 1
                ep = events[-1]["object"]["endpoints"][0]
                assert ep["targetRef"]["name"] == new
                assert ep["addresses"] == ["127.0.0.1"]
                # The child process followed the failover too.
                await until_metrics(
                    c,
                    "n3",
                    lambda t: (
                        metric(t, "gungnir_current_epoch", group=GROUP) == epoch
                        and metric(t, "gungnir_node_role", node=new, role="primary") == 1
                    ),
                )
                assert proc.poll() is None, c.output("n3")
            finally:
                await c.stop()
        assert proc.returncode == 0, c.output("n3")

    run(main(), timeout=90)


async def until_metrics(c: KubeCluster, node: str, cond: Any, within: float = 15) -> str:
    deadline = time.monotonic() + within
    last = ""
    while time.monotonic() < deadline:
        try:
            last = await scrape(c.metrics_ports[node])
        except OSError:
            last = ""
        if last and cond(last):
            return last
        await asyncio.sleep(0.1)  # polling period of a condition with a deadline
    raise AssertionError(f"{node}'s metrics never matched; log:\n{c.output(node)[-3000:]}")


def test_api_down_during_failover_then_routing_converges(
    api: ApiServer, kc: client.ApiClient, tmp_path: Path
) -> None:
    async def main() -> None:
        with start_group(replicas=2) as g:
            c = KubeCluster(api, kc, tmp_path)
            c.setup(g.nodes)
            try:
                for n in VOTERS:
                    await c.start(n)
                await until(
                    lambda: c.routed() == (0, g.primary.name, [g.primary.name]),
                    15,
                    "bootstrap routing",
                )
                api.stop_listening()
                g.primary.kill(signal.SIGKILL)
                await until(
                    lambda: len(c.primaries()) == 1 and c.primaries() != {g.primary.name},
                    20,
                    "failover with the API down",
                )
                (new,) = c.primaries()
                assert next(n for n in g.nodes if n.name == new).info()["role"] == "master"
                assert c.routed() == (0, g.primary.name, [g.primary.name])  # API untouched
                epoch = c.wirings["n1"].daemon.groups[GROUP].state.config.epoch
                api.resume()
                await until(lambda: c.routed() == (epoch, new, [new]), 20, "routing converges")
                b = c.wirings["n1"].backend
                await until(lambda: b.pods(GROUP)[new].role == "primary", 15, "labels")
                errors = sum(
                    metric_total(w.daemon.metrics.registry, "gungnir_kubernetes_api_errors_total")
                    for w in c.wirings.values()
                )
                assert errors > 0  # the outage was seen and counted
            finally:
                await c.stop()

    run(main(), timeout=90)


def metric_total(registry: Any, name: str) -> float:
    total = 0.0
    for family in registry.collect():
        for s in family.samples:
            if s.name == name:
                total += s.value
    return total


def test_pod_restarting_at_a_new_address_is_followed_without_a_reset(
    api: ApiServer, kc: client.ApiClient, tmp_path: Path
) -> None:
    async def main() -> None:
        with start_group(replicas=2) as g, start_node("moved") as fresh:
            c = KubeCluster(api, kc, tmp_path)
            c.setup(g.nodes)
            try:
                for n in VOTERS:
                    await c.start(n)
                await until(lambda: c.primaries() == {g.primary.name}, 15, "bootstrap")
                for i in range(50):
                    g.primary.command("SET", f"k{i}", str(i))
                moved = g.replicas[1]
                epoch_before = {n: w.daemon.groups[GROUP].state.epoch for n, w in c.wirings.items()}
                moved.kill(signal.SIGKILL)
                # Same pod name, a new valkey-server (empty, standalone) at a new port.
                restart_pod(kc, moved.name, fresh.port)
                for w in c.wirings.values():
                    rt = w.daemon.groups[GROUP]
                    await until(
                        lambda rt=rt: rt.cfg.nodes[moved.name] == ("127.0.0.1", fresh.port),
                        10,
                        "the daemon to follow the pod's new address",
                    )

                def rejoined() -> bool:
                    info = fresh.info()
                    return (
                        info.get("role") == "slave"
                        and int(info.get("master_port", 0)) == g.primary.port
                        and info.get("master_link_status") == "up"
                    )

                await until(rejoined, 20, "the moved pod to follow the primary")
                await until(lambda: fresh.command("GET", "k49") == b"49", 10, "data resynced")
                for n, w in c.wirings.items():
                    rt = w.daemon.groups[GROUP]

                    def sees_replica(rt: Any = rt) -> bool:
                        v = rt.state.view(moved.name)
                        return v is not None and v.reachable and v.role == "replica"

                    await until(sees_replica, 5, f"{n} to probe the moved pod as a replica")
                    st = rt.state
                    assert st.config.primary == g.primary.name  # no failover, no reset
                    assert st.epoch == epoch_before[n]
            finally:
                await c.stop()

    run(main(), timeout=90)


def test_forbidden_call_is_logged_and_counted_and_nothing_stops(
    api: ApiServer, kc: client.ApiClient, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="gungnir")
    message = 'pods is forbidden: User "system:serviceaccount:default:gungnir" cannot patch'
    api.inject(method="PATCH", path=r"/pods/[^/]+$", status=403, message=message)

    async def main() -> None:
        with start_group(replicas=2) as g:
            c = KubeCluster(api, kc, tmp_path)
            c.setup(g.nodes)
            try:
                for n in VOTERS:
                    await c.start(n)
                await until(
                    lambda: c.routed() == (0, g.primary.name, [g.primary.name]),
                    15,
                    "bootstrap routing (not blocked by the refused label patch)",
                )
                w = c.wirings["n1"]
                # Labels follow routing (the slice's first read is a counted 404): wait for
                # the 403 itself, not for the first error of any kind.
                text = await until_metrics(
                    c,
                    "n1",
                    lambda t: (
                        (metric(t, "gungnir_kubernetes_api_errors_total", code="403") or 0) >= 1
                    ),
                )
                assert (metric(text, "gungnir_kubernetes_api_errors_total", code="403") or 0) >= 1
                g.primary.kill(signal.SIGKILL)
                await until(
                    lambda: len(c.primaries()) == 1 and c.primaries() != {g.primary.name},
                    20,
                    "failover despite the refused permission",
                )
                (new,) = c.primaries()
                epoch = w.daemon.groups[GROUP].state.config.epoch
                await until(lambda: c.routed() == (epoch, new, [new]), 10, "routing")
                for x in c.wirings.values():
                    assert x.daemon._live()[0]
            finally:
                await c.stop()

    run(main(), timeout=90)
    lines = [r.getMessage() for r in caplog.records if r.name == "gungnir.kube.run"]
    refused = [m for m in lines if "refused patch pods (403)" in m and "fix the Role" in m]
    assert refused, lines
    assert len(refused) <= len(VOTERS)  # once per daemon, not once per retry


def test_switchover_annotation_moves_the_primary_losing_no_acknowledged_write(
    api: ApiServer, kc: client.ApiClient, tmp_path: Path
) -> None:
    switchovers: list[tuple[str, Any]] = []

    def observer(daemon: str, group: str, item: Any, now: float) -> None:
        if isinstance(item, Switchover):
            switchovers.append((daemon, item))

    async def main() -> None:
        with start_group(replicas=2) as g:
            c = KubeCluster(api, kc, tmp_path)
            c.setup(g.nodes)
            ports = {n.name: n.port for n in g.nodes}
            try:
                for n in VOTERS:
                    await c.start(n, observer=observer)
                await until(
                    lambda: c.routed() == (0, g.primary.name, [g.primary.name]),
                    15,
                    "bootstrap routing",
                )
                await until(
                    lambda: all(
                        all(link.up for link in w.daemon.links.values()) for w in c.wirings.values()
                    ),
                    10,
                    "every peer link up",
                )
                target = g.replicas[0].name
                acked: list[str] = []
                stop = asyncio.Event()

                async def writer() -> None:
                    """Writes through the Service: to the pod the slice names, until told."""
                    from gungnir.client import connect

                    conn, at = None, 0
                    for i in range(100_000):
                        if stop.is_set():
                            break
                        routed = c.routed()
                        if not routed or not routed[2]:
                            await asyncio.sleep(0.01)  # no endpoint: clients see errors
                            continue
                        port = ports[routed[2][0]]
                        try:
                            if conn is None or at != port:
                                if conn is not None:
                                    conn.close()
                                conn = await connect(
                                    "127.0.0.1", port, connect_timeout=1, command_timeout=1
                                )
                                at = port
                            await conn.execute("SET", f"w{i}", str(i))
                            acked.append(f"w{i}")
                        except Exception:
                            if conn is not None:
                                conn.close()
                            conn = None
                            await asyncio.sleep(0.01)  # back off after a refused write
                    if conn is not None:
                        conn.close()

                task = asyncio.get_running_loop().create_task(writer())
                await until(lambda: len(acked) > 50, 10, "writes flowing")
                cli = await asyncio.to_thread(
                    subprocess.run,
                    [
                        sys.executable,
                        "-m",
                        "gungnir",
                        "failover",
                        GROUP,
                        "--kubernetes",
                        f"--kube-host={api.url}",
                        f"--namespace={NS}",
                        f"--to={target}",
                        "--wait=20",
                    ],
                    capture_output=True,
                    text=True,
                    timeout=60,
                )
                assert cli.returncode == 0, cli.stdout + cli.stderr
                assert f"done: primary {target}" in cli.stdout
                epoch = c.wirings["n1"].daemon.groups[GROUP].state.config.epoch
                await until(lambda: c.routed() == (epoch, target, [target]), 10, "routing")
                n = len(acked)
                await until(lambda: len(acked) > n + 50, 10, "writes to the new primary")
                stop.set()
                await task
                new = next(x for x in g.nodes if x.name == target)
                missing = [k for k in acked if new.command("EXISTS", k) != 1]
                assert not missing, f"{len(missing)} acknowledged writes lost: {missing[:5]}"
                vg = client.CustomObjectsApi(kc).get_namespaced_custom_object(
                    "gungnir.io", "v1alpha1", NS, "valkeygroups", GROUP
                )
                assert "gungnir.io/switchover" not in (vg["metadata"].get("annotations") or {})
            finally:
                await c.stop()

    run(main(), timeout=120)
    assert len(switchovers) == 1, switchovers
