"""Daemons started the way ``gungnir run --kubernetes`` starts them, against the emulator.

The Valkey "pods" are real valkey-server processes: each pod object carries 127.0.0.1 as its
IP and the server's real port as its container port ``valkey`` (what discovery reads, as it
reads 6379 from the StatefulSet in a cluster). The daemon pods carry 127.0.0.1 and each
daemon's real RESP port as container port ``peer`` (7480 in the DaemonSet).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client

from gungnir.kube.routing import slice_name
from gungnir.kube.run import KubeRunOptions, KubeWiring, start_kubernetes
from gungnir.local import ValkeyProcess, free_port

from .apiserver import ApiServer
from .conftest import NS, install_crd

GROUP = "demo"
DAEMON_SELECTOR = "app.kubernetes.io/name=gungnir,app.kubernetes.io/component=daemon"
DAEMON_LABELS = {"app.kubernetes.io/name": "gungnir", "app.kubernetes.io/component": "daemon"}
SECRET = "kube-test-secret-0123"
VOTERS = ["n1", "n2", "n3"]

#: Loopback timings (the runtime's FAST), as a ValkeyGroup spec.
FAST_SPEC: dict[str, Any] = {
    "probeInterval": "100ms",
    "downAfter": "600ms",
    "reportTtl": "1200ms",
    "electionTimeout": "600ms",
    "electionJitter": "300ms",
    "fenceAfter": "300ms",
    "promoteAfter": "600ms",
    "maxClockDrift": "100ms",
    "failoverTimeout": "10s",
    "switchoverTimeout": "5s",
}


def pod_body(name: str, labels: dict[str, str], node: str, ports: dict[str, int]) -> dict:
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "main",
                    "image": "x",
                    "ports": [
                        {"name": k, "containerPort": v, "protocol": "TCP"} for k, v in ports.items()
                    ],
                }
            ],
        },
    }


def run_pod(
    kc: client.ApiClient, name: str, labels: dict[str, str], node: str, ports: dict[str, int]
) -> None:
    v1 = client.CoreV1Api(kc)
    v1.create_namespaced_pod(NS, pod_body(name, labels, node, ports))
    status = {
        "phase": "Running",
        "podIP": "127.0.0.1",
        "conditions": [{"type": "Ready", "status": "True"}],
    }
    v1.patch_namespaced_pod_status(
        name, NS, {"status": status}, _content_type="application/merge-patch+json"
    )


def restart_pod(kc: client.ApiClient, name: str, port: int) -> None:
    """The StatefulSet pod dies and comes back with the same name and a new address."""
    v1 = client.CoreV1Api(kc)
    old = v1.read_namespaced_pod(name, NS)
    v1.delete_namespaced_pod(name, NS)
    labels = dict(old.metadata.labels or {})
    labels.pop("gungnir.io/role", None)
    run_pod(kc, name, labels, old.spec.node_name, {"valkey": port})


def valkey_pods(kc: client.ApiClient, nodes: list[ValkeyProcess]) -> None:
    for i, n in enumerate(nodes):
        run_pod(kc, n.name, {"gungnir.io/group": GROUP}, f"n{i + 1}", {"valkey": n.port})


def create_group(kc: client.ApiClient, **spec: Any) -> None:
    body = {
        "apiVersion": "gungnir.io/v1alpha1",
        "kind": "ValkeyGroup",
        "metadata": {"name": GROUP},
        "spec": {"voters": VOTERS, "quorum": 2, **FAST_SPEC, **spec},
    }
    client.CustomObjectsApi(kc).create_namespaced_custom_object(
        "gungnir.io", "v1alpha1", NS, "valkeygroups", body
    )


@dataclass
class KubeCluster:
    """The emulator, the CRD and group, the pods, and daemons n1..n3."""

    api: ApiServer
    kc: client.ApiClient
    base: Path
    ports: dict[str, int] = field(default_factory=dict)
    metrics_ports: dict[str, int] = field(default_factory=dict)
    wirings: dict[str, KubeWiring] = field(default_factory=dict)
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def setup(self, valkeys: list[ValkeyProcess], **spec: Any) -> None:
        install_crd(self.kc)
        valkey_pods(self.kc, valkeys)
        for node in VOTERS:
            self.ports[node] = free_port()
            self.metrics_ports[node] = free_port()
            run_pod(self.kc, f"gungnir-{node}", DAEMON_LABELS, node, {"peer": self.ports[node]})
        create_group(self.kc, **spec)

    def options(self, node: str) -> KubeRunOptions:
        return KubeRunOptions(
            node_name=node,
            pod_name=f"gungnir-{node}",
            namespace=NS,
            state_dir=self.base / node / "state",
            daemon_selector=DAEMON_SELECTOR,
            secret=SECRET,
            bind=("127.0.0.1", self.ports[node]),
            metrics_bind=("127.0.0.1", self.metrics_ports[node]),
            host=self.api.url,
            decision_log=self.base / node / "decisions.jsonl",
            watch_timeout=5,
        )

    async def start(self, node: str, **daemon_kwargs: Any) -> KubeWiring:
        w = await start_kubernetes(self.options(node), **daemon_kwargs)
        self.wirings[node] = w
        return w

    def start_process(self, node: str) -> subprocess.Popen[bytes]:
        """``python -m gungnir run --kubernetes`` as a child process, output to a log file."""
        (self.base / node).mkdir(parents=True, exist_ok=True)
        argv = [
            sys.executable,
            "-m",
            "gungnir",
            "run",
            "--kubernetes",
            f"--state-dir={self.base / node / 'state'}",
            f"--kube-host={self.api.url}",
            f"--namespace={NS}",
            f"--bind=127.0.0.1:{self.ports[node]}",
            f"--metrics-bind=127.0.0.1:{self.metrics_ports[node]}",
        ]
        env = dict(os.environ)
        env.update(
            GUNGNIR_NODE_NAME=node,
            GUNGNIR_POD_NAME=f"gungnir-{node}",
            GUNGNIR_DAEMON_SELECTOR=DAEMON_SELECTOR,
            GUNGNIR_SECRET=SECRET,
        )
        log = (self.base / node / "daemon.log").open("ab")
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=log, stderr=log, env=env, start_new_session=True
        )
        log.close()
        self.procs[node] = proc
        return proc

    def output(self, node: str) -> str:
        with contextlib.suppress(OSError):
            return (self.base / node / "daemon.log").read_text(errors="replace")
        return ""

    async def stop(self) -> None:
        for w in self.wirings.values():
            with contextlib.suppress(Exception):
                await w.stop()
        self.wirings.clear()
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                try:
                    await asyncio.to_thread(proc.wait, 10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    await asyncio.to_thread(proc.wait, 5)
        self.procs.clear()

    # -- what the API shows ----------------------------------------------------------------

    def slice(self) -> dict[str, Any] | None:
        kind = self.api.store.kind("discovery.k8s.io", "v1", "endpointslices")
        try:
            return self.api.store.get(kind, (NS, slice_name(f"{GROUP}-primary")))
        except Exception:
            return None

    def routed(self) -> tuple[int, str, list[str]] | None:
        s = self.slice()
        if s is None:
            return None
        ann = s["metadata"]["annotations"]
        names = [ep["targetRef"]["name"] for ep in s.get("endpoints") or []]
        return int(ann["gungnir.io/epoch"]), ann["gungnir.io/primary"], names

    def primaries(self) -> set[str | None]:
        return {w.daemon.groups[GROUP].state.config.primary for w in self.wirings.values()}


@contextlib.contextmanager
def kube_cluster(api: ApiServer, kc: client.ApiClient, base: Path) -> Iterator[KubeCluster]:
    yield KubeCluster(api, kc, base)


async def scrape(port: int) -> str:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), 5)
    writer.close()
    return data.decode().partition("\r\n\r\n")[2]


def slice_updates(api: ApiServer) -> list[Any]:
    """Successful writes (create or update) of the primary Service's slice, in order."""
    name = slice_name(f"{GROUP}-primary")
    return [
        r
        for r in list(api.requests)
        if r.resource == "endpointslices"
        and (r.verb == "create" or (r.verb == "update" and r.name == name))
        and 200 <= r.status < 300
    ]


Cond = Callable[[], Any]
