"""Sentinel endpoint benchmarks: gungnir's endpoint (Python, uvloop, own process) against a
real ``valkey-server --sentinel`` (C) watching the same group, same client, same run.

Rows (pytest-benchmark groups):

* ``sentinel-addr-pipelined``: 10,000 ``SENTINEL get-master-addr-by-name`` in batches of
  100 on one raw connection (the server's per-command cost);
* ``sentinel-masters``: 500 sequential ``SENTINEL MASTERS`` round trips (a 20-field record);
* ``sentinel-discover``: 200 ``discover_master`` calls through redis-py's Sentinel class
  (what an application pays at connect time).

Every reply is checked. Ratios (above 1.00: gungnir faster)::

    pytest bench/test_bench_sentinel.py --benchmark-json=sentinel.json
    python bench/report.py sentinel.json --baseline valkey-sentinel
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from redis.sentinel import Sentinel

from gungnir.local import start_group, wait_until
from gungnir.resp import NEED_DATA, Reader, pack_command

GROUP = "bench"
N_ADDR = 10_000
BATCH = 100
N_MASTERS = 500
N_DISCOVER = 200
IMPLS = ["gungnir", "valkey-sentinel"]


@pytest.fixture(scope="module")
def endpoints() -> Iterator[dict[str, Any]]:
    here = Path(__file__).resolve().parent
    if str(here.parent) not in sys.path:
        sys.path.insert(0, str(here.parent))
    from tests.runtime.sentinel_support import real_sentinels  # the tests' Sentinel launcher

    with (
        start_group(replicas=2) as group,
        real_sentinels(GROUP, group.primary, count=1, quorum=1) as (real,),
    ):
        wait_until(
            lambda: len(real.call("SENTINEL", "REPLICAS", GROUP)) == 2,
            timeout=30,
            what="sentinel to discover the replicas",
        )
        args = [f"{n.host}:{n.port}" for n in group.nodes]
        proc = subprocess.Popen(
            [sys.executable, str(here / "sentinel_endpoint.py"), GROUP, *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().decode()
            assert line.startswith("READY "), line
            yield {
                "gungnir": int(line.split()[1]),
                "valkey-sentinel": real.port,
                "primary": (group.primary.host, group.primary.port),
            }
        finally:
            assert proc.stdin is not None
            proc.stdin.close()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


@contextlib.contextmanager
def connect(port: int) -> Iterator[socket.socket]:
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        yield sock
    finally:
        sock.close()


def roundtrips(sock: socket.socket, payload: bytes, count: int) -> list[Any]:
    sock.sendall(payload)
    reader = Reader()
    out: list[Any] = []
    while len(out) < count:
        item = reader.gets()
        if item is NEED_DATA:
            reader.feed(sock.recv(1 << 16))
            continue
        out.append(item)
    return out


@pytest.mark.parametrize("impl", IMPLS)
def test_addr_pipelined(benchmark: Any, endpoints: dict[str, Any], impl: str) -> None:
    benchmark.group = "sentinel-addr-pipelined"
    benchmark.extra_info["impl"] = impl
    batch = pack_command("SENTINEL", "get-master-addr-by-name", GROUP) * BATCH
    host, port = endpoints["primary"]
    expected = [host.encode(), str(port).encode()]

    def run() -> None:
        with connect(endpoints[impl]) as sock:
            for _ in range(N_ADDR // BATCH):
                replies = roundtrips(sock, batch, BATCH)
                assert replies[0] == expected and replies[-1] == expected

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("impl", IMPLS)
def test_masters(benchmark: Any, endpoints: dict[str, Any], impl: str) -> None:
    benchmark.group = "sentinel-masters"
    benchmark.extra_info["impl"] = impl
    request = pack_command("SENTINEL", "MASTERS")

    def run() -> None:
        with connect(endpoints[impl]) as sock:
            for _ in range(N_MASTERS):
                (masters,) = roundtrips(sock, request, 1)
                assert len(masters) == 1 and masters[0][:2] == [b"name", GROUP.encode()]

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("impl", IMPLS)
def test_discover(benchmark: Any, endpoints: dict[str, Any], impl: str) -> None:
    benchmark.group = "sentinel-discover"
    benchmark.extra_info["impl"] = impl
    sentinel = Sentinel([("127.0.0.1", endpoints[impl])], sentinel_kwargs={"socket_timeout": 5})

    def run() -> None:
        for _ in range(N_DISCOVER):
            assert sentinel.discover_master(GROUP) == endpoints["primary"]

    benchmark.pedantic(run, rounds=5, iterations=1, warmup_rounds=1)
