"""Client benchmarks: Gungnir against redis-py (asyncio + hiredis), valkey-py (+ libvalkey),
coredis and valkey-glide, with ``redis-benchmark`` (C) as the ceiling.

Same server, same run, uvloop for every Python client.  Rows (pytest-benchmark groups):

* ``pipeline-set`` / ``pipeline-get``: 100k commands on one connection in batches of 100;
* ``sequential-get``: 2000 awaited GET round trips (p50/p99 per call in ``extra_info``);
* ``concurrent-get``: 50 tasks x 2000 GETs (each client used as its docs recommend:
  redis-py/valkey-py/coredis with their pools, glide's multiplexed client, and one shared
  Gungnir connection, which pipelines the tasks automatically);
* ``hgetall-1000``: 200 sequential HGETALLs of a 1000-field hash.

Every workload checks its results so a broken client cannot win.  Loads are bounded
(fixed counts; few rounds).  Each row records ``ops`` (operations per round) in
``extra_info``, so ``bench/report.py`` prints ops/s next to the ratios, and each client's
ops/s as a fraction of redis-benchmark's own rate::

    pytest bench/test_bench_client.py --benchmark-json=client.json
    python bench/report.py client.json --baseline redis-py --stat min
"""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Coroutine, Iterator
from typing import Any

import pytest
import uvloop

from gungnir.local import start_node

N_PIPE = 100_000
BATCH = 100
N_SEQ = 2000
TASKS = 50
PER_TASK = 2000
N_HGETALL = 200
FIELDS = 1000
VALUE = b"v" * 16
KEYS = [b"key:%d" % i for i in range(N_PIPE)]
HKEY = b"h1000"

IMPLS = ["gungnir", "redis-py", "valkey-py", "coredis", "glide"]


# -- adapters -------------------------------------------------------------------------------


class Adapter:
    name = ""

    async def open(self, host: str, port: int) -> None: ...
    async def close(self) -> None: ...
    async def pipe_set(self, keys: list[bytes]) -> list[Any]: ...
    async def pipe_get(self, keys: list[bytes]) -> list[Any]: ...
    async def get(self, key: bytes) -> Any: ...
    async def hgetall(self, key: bytes) -> Any: ...


class Gungnir(Adapter):
    name = "gungnir"

    async def open(self, host: str, port: int) -> None:
        from gungnir.client import connect

        self.c = await connect(host, port)

    async def close(self) -> None:
        await self.c.aclose()

    async def pipe_set(self, keys: list[bytes]) -> list[Any]:
        p = self.c.pipeline()
        for k in keys:
            p.set(k, VALUE)
        return await p.execute()

    async def pipe_get(self, keys: list[bytes]) -> list[Any]:
        p = self.c.pipeline()
        for k in keys:
            p.get(k)
        return await p.execute()

    def get(self, key: bytes) -> Any:  # the helper returns an awaitable already
        return self.c.get(key)

    def hgetall(self, key: bytes) -> Any:
        return self.c.hgetall(key)


class RedisPy(Adapter):
    name = "redis-py"

    def _client(self, host: str, port: int) -> Any:
        import redis
        import redis.asyncio

        assert redis.utils.HIREDIS_AVAILABLE
        return redis.asyncio.Redis(host=host, port=port)

    async def open(self, host: str, port: int) -> None:
        self.c = self._client(host, port)
        await self.c.ping()

    async def close(self) -> None:
        await self.c.aclose()

    async def pipe_set(self, keys: list[bytes]) -> list[Any]:
        async with self.c.pipeline(transaction=False) as p:
            for k in keys:
                p.set(k, VALUE)
            return await p.execute()

    async def pipe_get(self, keys: list[bytes]) -> list[Any]:
        async with self.c.pipeline(transaction=False) as p:
            for k in keys:
                p.get(k)
            return await p.execute()

    def get(self, key: bytes) -> Any:
        return self.c.get(key)

    def hgetall(self, key: bytes) -> Any:
        return self.c.hgetall(key)


class ValkeyPy(RedisPy):
    name = "valkey-py"

    def _client(self, host: str, port: int) -> Any:
        import valkey.asyncio
        from valkey._parsers.libvalkey import _AsyncLibvalkeyParser

        client = valkey.asyncio.Valkey(host=host, port=port)
        assert (
            client.connection_pool.connection_class(host=host, port=port)._parser.__class__
            is _AsyncLibvalkeyParser
        )
        return client


class Coredis(Adapter):
    name = "coredis"

    async def open(self, host: str, port: int) -> None:
        import coredis

        # coredis 6 ties its client to the task (anyio context) that entered it, so one
        # long-lived task holds it open for the whole module.
        ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._stop = asyncio.Event()

        async def holder() -> None:
            async with coredis.Redis(host, port) as client:
                self.c = client
                ready.set_result(None)
                await self._stop.wait()

        self._holder = asyncio.ensure_future(holder())
        await ready

    async def close(self) -> None:
        self._stop.set()
        await self._holder

    async def pipe_set(self, keys: list[bytes]) -> list[Any]:
        async with self.c.pipeline(transaction=False) as p:
            reqs = [p.set(k, VALUE) for k in keys]
        return [await r for r in reqs]

    async def pipe_get(self, keys: list[bytes]) -> list[Any]:
        async with self.c.pipeline(transaction=False) as p:
            reqs = [p.get(k) for k in keys]
        return [await r for r in reqs]

    def get(self, key: bytes) -> Any:
        return self.c.get(key)

    def hgetall(self, key: bytes) -> Any:
        return self.c.hgetall(key)


class Glide(Adapter):
    name = "glide"

    async def open(self, host: str, port: int) -> None:
        from glide import GlideClient, GlideClientConfiguration, NodeAddress

        self.c = await GlideClient.create(GlideClientConfiguration([NodeAddress(host, port)]))

    async def close(self) -> None:
        await self.c.close()

    async def pipe_set(self, keys: list[bytes]) -> list[Any]:
        from glide import Batch

        b = Batch(is_atomic=False)
        for k in keys:
            b.set(k, VALUE)
        return await self.c.exec(b, raise_on_error=True)

    async def pipe_get(self, keys: list[bytes]) -> list[Any]:
        from glide import Batch

        b = Batch(is_atomic=False)
        for k in keys:
            b.get(k)
        return await self.c.exec(b, raise_on_error=True)

    def get(self, key: bytes) -> Any:
        return self.c.get(key)

    def hgetall(self, key: bytes) -> Any:
        return self.c.hgetall(key)


ADAPTERS: dict[str, type[Adapter]] = {
    a.name: a for a in (Gungnir, RedisPy, ValkeyPy, Coredis, Glide)
}


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def server() -> Iterator[Any]:
    with start_node() as node:
        node.command("HSET", HKEY, *[x for i in range(FIELDS) for x in (b"f%d" % i, b"%d" % i)])
        yield node


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    lp = uvloop.new_event_loop()
    yield lp
    lp.close()


@pytest.fixture(scope="module")
def clients(server: Any, loop: asyncio.AbstractEventLoop) -> Iterator[dict[str, Adapter]]:
    opened: dict[str, Adapter] = {}
    for name, cls in ADAPTERS.items():
        a = cls()
        loop.run_until_complete(a.open(server.host, server.port))
        opened[name] = a
    # Every key exists before any client is timed, so no row pays for creating them.
    loop.run_until_complete(_pipe_set(opened["gungnir"]))
    yield opened
    for a in opened.values():
        loop.run_until_complete(a.close())


#: Seconds of measurement to aim for per (row, client): fast clients get up to 15 rounds
#: (so the minimum is robust to bursts of load from other processes on a shared machine),
#: slow ones a single round, so the whole file stays within a few minutes.
BUDGET = 2.5


#: Workload scale for ``--benchmark-disable`` runs (the test suite's smoke pass): enough to
#: exercise every client and check its results, quick enough for CI.
SMOKE = 0.02


def _bench(
    benchmark: Any,
    loop: asyncio.AbstractEventLoop,
    make: Callable[[float], Coroutine[Any, Any, Any]],
) -> tuple[Any, float]:
    """Warm up on a tenth of the workload, pick the round count from its time, measure.

    Returns the last result and the scale it was produced at (1.0 unless disabled).
    """
    scale = SMOKE if benchmark.disabled else 1.0
    rounds = 1
    if not benchmark.disabled:
        t0 = time.perf_counter()
        loop.run_until_complete(make(0.1))
        estimate = (time.perf_counter() - t0) * 10
        rounds = max(1, min(15, int(BUDGET / max(estimate, 1e-3))))
    result: list[Any] = []

    def once() -> None:
        result.append(loop.run_until_complete(make(scale)))

    benchmark.pedantic(once, rounds=rounds, iterations=1, warmup_rounds=0)
    benchmark.extra_info["rounds"] = rounds
    return result[-1], scale


# -- workloads ------------------------------------------------------------------------------


async def _pipe_set(a: Adapter, scale: float = 1.0) -> int:
    done = 0
    for i in range(0, int(N_PIPE * scale), BATCH):
        replies = await a.pipe_set(KEYS[i : i + BATCH])
        done += len(replies)
    return done


async def _pipe_get(a: Adapter, scale: float = 1.0) -> tuple[int, Any]:
    done, last = 0, None
    for i in range(0, int(N_PIPE * scale), BATCH):
        replies = await a.pipe_get(KEYS[i : i + BATCH])
        done += len(replies)
        last = replies[-1]
    return done, last


async def _sequential(a: Adapter, scale: float = 1.0) -> list[int]:
    lat = []
    key = KEYS[0]
    clock = time.perf_counter_ns
    for _ in range(int(N_SEQ * scale)):
        t0 = clock()
        v = await a.get(key)
        lat.append(clock() - t0)
    assert v == VALUE
    return lat


async def _concurrent(a: Adapter, scale: float = 1.0) -> int:
    per_task = int(PER_TASK * scale)

    async def task(t: int) -> int:
        key = KEYS[t]
        n = 0
        for _ in range(per_task):
            if await a.get(key) == VALUE:
                n += 1
        return n

    return sum(await asyncio.gather(*(task(t) for t in range(TASKS))))


async def _hgetall(a: Adapter, scale: float = 1.0) -> int:
    n = 0
    for _ in range(int(N_HGETALL * scale)):
        n += len(await a.hgetall(HKEY))
    return n


def _pct(lat: list[int], q: float) -> float:
    s = sorted(lat)
    return s[min(len(s) - 1, int(q * len(s)))] / 1000.0


@pytest.mark.parametrize("impl", IMPLS)
def test_pipeline_set(benchmark, loop, clients, impl):
    benchmark.group = "pipeline-set (100k, batches of 100)"
    benchmark.extra_info["impl"] = impl
    done, scale = _bench(benchmark, loop, lambda k: _pipe_set(clients[impl], k))
    assert done == int(N_PIPE * scale)
    benchmark.extra_info["ops"] = done


@pytest.mark.parametrize("impl", IMPLS)
def test_pipeline_get(benchmark, loop, clients, impl):
    benchmark.group = "pipeline-get (100k, batches of 100)"
    benchmark.extra_info["impl"] = impl
    (done, last), scale = _bench(benchmark, loop, lambda k: _pipe_get(clients[impl], k))
    assert done == int(N_PIPE * scale) and last == VALUE
    benchmark.extra_info["ops"] = done


@pytest.mark.parametrize("impl", IMPLS)
def test_sequential_get(benchmark, loop, clients, impl):
    benchmark.group = "sequential-get (2000 round trips)"
    benchmark.extra_info["impl"] = impl
    lat, scale = _bench(benchmark, loop, lambda k: _sequential(clients[impl], k))
    assert len(lat) == int(N_SEQ * scale)
    benchmark.extra_info["ops"] = len(lat)
    benchmark.extra_info["p50_us"] = _pct(lat, 0.50)
    benchmark.extra_info["p99_us"] = _pct(lat, 0.99)


@pytest.mark.parametrize("impl", IMPLS)
def test_concurrent_get(benchmark, loop, clients, impl):
    benchmark.group = "concurrent-get (50 tasks x 2000)"
    benchmark.extra_info["impl"] = impl
    n, scale = _bench(benchmark, loop, lambda k: _concurrent(clients[impl], k))
    assert n == TASKS * int(PER_TASK * scale)
    benchmark.extra_info["ops"] = n


@pytest.mark.parametrize("impl", IMPLS)
def test_hgetall_1000(benchmark, loop, clients, impl):
    benchmark.group = "hgetall-1000 (200 calls)"
    benchmark.extra_info["impl"] = impl
    n, scale = _bench(benchmark, loop, lambda k: _hgetall(clients[impl], k))
    assert n == int(N_HGETALL * scale) * FIELDS
    benchmark.extra_info["ops"] = int(N_HGETALL * scale)  # calls, not fields


# -- the C ceiling --------------------------------------------------------------------------

REDIS_BENCHMARK = shutil.which("redis-benchmark")

#: redis-benchmark's arguments per row, and the operations it runs (its ``-n``).
CEILING = {
    "pipeline-set (100k, batches of 100)": ["-c", "1", "-P", "100", "-n", str(N_PIPE), "-t", "set"],
    "pipeline-get (100k, batches of 100)": ["-c", "1", "-P", "100", "-n", str(N_PIPE), "-t", "get"],
    "sequential-get (2000 round trips)": ["-c", "1", "-P", "1", "-n", str(N_SEQ), "-t", "get"],
    "concurrent-get (50 tasks x 2000)": ["-c", "50", "-n", str(TASKS * PER_TASK), "-t", "get"],
    "hgetall-1000 (200 calls)": ["-c", "1", "-n", str(N_HGETALL), "HGETALL", HKEY.decode()],
}


@pytest.mark.skipif(REDIS_BENCHMARK is None, reason="needs redis-benchmark (redis-tools)")
@pytest.mark.parametrize("group", list(CEILING))
def test_redis_benchmark_ceiling(benchmark, server, group):
    """Wall time of the redis-benchmark process (its start-up included, a small handicap);
    its own ops/s and latency percentiles go into ``extra_info``."""
    benchmark.group = group
    benchmark.extra_info["impl"] = "redis-benchmark"
    argv = [
        REDIS_BENCHMARK, "-h", server.host, "-p", str(server.port),
        "-d", str(len(VALUE)), "-r", str(N_PIPE), "--csv", *CEILING[group],
    ]  # fmt: skip
    out: list[str] = []

    def once() -> None:
        out.append(subprocess.run(argv, check=True, capture_output=True, text=True).stdout)

    benchmark.pedantic(once, rounds=3, iterations=1, warmup_rounds=1)
    benchmark.extra_info["stdout"] = out[-1][-300:]
    rows = [line for line in out[-1].splitlines() if line and not line.startswith('"test"')]
    fields = [f.strip('"') for f in re.split(r",(?=\")", rows[-1])]
    benchmark.extra_info["rps"] = float(fields[1])
    benchmark.extra_info["ops"] = int(CEILING[group][CEILING[group].index("-n") + 1])
    if len(fields) >= 7:
        benchmark.extra_info["p50_us"] = float(fields[4]) * 1000
        benchmark.extra_info["p99_us"] = float(fields[6]) * 1000
