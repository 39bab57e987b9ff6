"""Fixtures for the Kubernetes tests: the API-server emulator and official clients bound to it."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from gungnir.kube import KubeApi, KubeBackend, RetryPolicy

from .apiserver import ApiServer


def make_client(url: str) -> client.ApiClient:
    """An official client for ``url`` that fails fast (no urllib3 retries), as the backend."""
    cfg = client.Configuration()
    cfg.host = url
    cfg.retries = False
    return client.ApiClient(cfg)


@pytest.fixture
def api() -> Iterator[ApiServer]:
    with ApiServer() as server:
        yield server


@pytest.fixture
def kc(api: ApiServer) -> Iterator[client.ApiClient]:
    c = make_client(api.url)
    yield c
    c.close()


def watch_events(fn, *args, **kwargs) -> list[dict]:  # type: ignore[no-untyped-def]
    """Run a raw watch call to completion (give it ``timeout_seconds``) and return its events."""
    resp = fn(*args, watch=True, _preload_content=False, **kwargs)
    events = []
    buf = b""
    for chunk in resp.stream(4096, decode_content=False):
        buf += chunk
        while b"\n" in buf:
            line, buf = buf.split(b"\n", 1)
            if line.strip():
                events.append(json.loads(line))
    resp.release_conn()
    return events


def pod(name: str, labels: dict[str, str] | None = None, node: str = "n1") -> dict:
    """A minimal valid Pod manifest."""
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"nodeName": node, "containers": [{"name": "valkey", "image": "valkey"}]},
    }


# -- the backend's side -------------------------------------------------------------------

REPO = Path(__file__).resolve().parents[2]
CRD_FILE = REPO / "k8s" / "base" / "crd-valkeygroup.yaml"
NS = "default"
GROUP = "cache"
DAEMONS = "app.kubernetes.io/name=gungnir"


def fast_api(url: str, **kwargs: Any) -> KubeApi:
    """A backend API client with short timeouts and backoff, for tests."""
    kwargs.setdefault("retry", RetryPolicy(attempts=3, base=0.01, cap=0.05, deadline=1.0))
    kwargs.setdefault("request_timeout", (1.0, 2.0))
    return KubeApi(url, namespace=NS, **kwargs)


def run(coro: Any, timeout: float = 60.0) -> Any:
    """Run a coroutine to completion with a hard deadline."""
    return asyncio.run(asyncio.wait_for(coro, timeout))


async def until(cond: Callable[[], Any], within: float = 10.0, what: str = "") -> Any:
    """Poll ``cond`` until it is truthy; fail with ``what`` after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or cond}")
        await asyncio.sleep(0.01)


class Kubelet:
    """Plays the kubelet and the StatefulSet controller against the emulator."""

    def __init__(self, kc: client.ApiClient, namespace: str = NS) -> None:
        self.v1 = client.CoreV1Api(kc)
        self.ns = namespace

    def run_pod(self, name: str, labels: dict[str, str], ip: str, node: str = "n1") -> dict:
        self.v1.create_namespaced_pod(self.ns, pod(name, labels, node))
        return self.set_ip(name, ip)

    def set_ip(self, name: str, ip: str, ready: bool = True) -> dict:
        status = {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        }
        return client.ApiClient().sanitize_for_serialization(
            self.v1.patch_namespaced_pod_status(
                name, self.ns, {"status": status}, _content_type="application/merge-patch+json"
            )
        )

    def restart_pod(self, name: str, new_ip: str) -> None:
        """A StatefulSet pod dies and comes back with the same name and a new IP."""
        old = self.v1.read_namespaced_pod(name, self.ns)
        self.v1.delete_namespaced_pod(name, self.ns)
        labels = dict(old.metadata.labels or {})
        labels.pop("gungnir.io/role", None)
        self.run_pod(name, labels, new_ip, old.spec.node_name)

    def valkey_group(self, group: str = GROUP, n: int = 3) -> list[str]:
        names = [f"{group}-{i}" for i in range(n)]
        for i, name in enumerate(names):
            self.run_pod(name, {"gungnir.io/group": group}, f"10.0.0.{10 + i}", f"n{i + 1}")
        return names

    def daemons(self, nodes: list[str]) -> None:
        for node in nodes:
            self.run_pod(
                f"gungnir-{node}",
                {"app.kubernetes.io/name": "gungnir"},
                f"10.1.0.{len(node)}",
                node,
            )


def install_crd(kc: client.ApiClient) -> None:
    client.ApiextensionsV1Api(kc).create_custom_resource_definition(
        yaml.safe_load(CRD_FILE.read_text())
    )


def create_group(kc: client.ApiClient, name: str = GROUP, **spec: Any) -> dict:
    spec.setdefault("voters", ["n1", "n2", "n3"])
    spec.setdefault("service", f"{name}-primary")
    body = {
        "apiVersion": "gungnir.io/v1alpha1",
        "kind": "ValkeyGroup",
        "metadata": {"name": name},
        "spec": spec,
    }
    return client.CustomObjectsApi(kc).create_namespaced_custom_object(
        "gungnir.io", "v1alpha1", NS, "valkeygroups", body
    )


@pytest.fixture
def kubelet(kc: client.ApiClient) -> Kubelet:
    return Kubelet(kc)


@pytest.fixture
def cluster(kc: client.ApiClient, kubelet: Kubelet) -> Kubelet:
    """A CRD, one ValkeyGroup ``cache`` with three pods, and daemons on n1..n4."""
    install_crd(kc)
    kubelet.valkey_group()
    kubelet.daemons(["n1", "n2", "n3", "n4"])
    create_group(kc)
    return kubelet


def backend(url: str, **kwargs: Any) -> KubeBackend:
    return KubeBackend(
        fast_api(url, **kwargs), identity="gungnir-n1", daemon_selector=DAEMONS, watch_timeout=5
    )
