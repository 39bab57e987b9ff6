"""Fixtures for the Kubernetes tests: the API-server emulator and official clients bound to it."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from kubernetes import client

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
