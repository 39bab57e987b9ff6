"""A real failover for the CLI tests: ``gungnir history`` and ``gungnir status``.

One group of real valkey-server processes and three in-process daemons (on an event loop in
a background thread, so the CLI can be called from the test thread exactly as an operator
calls it); the primary is SIGKILLed once and every test reads the result.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from gungnir.cli import main as cli
from gungnir.local import start_group
from gungnir.runtime.cluster import InProcessCluster, cluster_docs

from .support import nodes_of, until


@dataclass
class FailedOver:
    base: Path
    ports: dict[str, int]
    new_primary: str


@contextlib.contextmanager
def background_loop() -> Iterator[Callable[..., Any]]:
    """An event loop in a thread, so the CLI can run in the test thread; yields
    ``on_loop(coro, timeout=60)``, which runs a coroutine there and returns its result."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    def on_loop(coro: Any, timeout: float = 60) -> Any:
        fut: Future[Any] = asyncio.run_coroutine_threadsafe(coro, loop)
        return fut.result(timeout)

    try:
        yield on_loop
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.fixture(scope="module")
def failed_over(tmp_path_factory: pytest.TempPathFactory) -> Iterator[FailedOver]:
    base = tmp_path_factory.mktemp("history")
    with background_loop() as on_loop, start_group(replicas=2) as g:
        cluster = InProcessCluster(cluster_docs(nodes_of(g), base))
        try:
            on_loop(cluster.start())

            async def fail_over() -> str:
                await until(lambda: cluster.primaries() == {"node-0"}, 10, "bootstrap")
                g.primary.kill(signal.SIGKILL)
                (new,) = await until(
                    lambda: (
                        len(cluster.primaries()) == 1
                        and cluster.primaries() != {"node-0"}
                        and cluster.primaries()
                    ),
                    15,
                    "one new primary agreed by every daemon",
                )
                rts = [next(iter(d.groups.values())) for d in cluster.daemons.values()]
                await until(
                    lambda: all(
                        (v := rt.state.view(new)) is not None and v.role in ("master", "primary")
                        for rt in rts
                    ),
                    10,
                    "every daemon to have probed the new primary in its new role",
                )
                return str(new)

            new = on_loop(fail_over())
            ports = {name: d.port for name, d in cluster.daemons.items()}
            yield FailedOver(base, ports, new)
        finally:
            on_loop(cluster.stop())


def run_cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = cli(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def history_json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, Any]:
    code, out, err = run_cli(capsys, "history", "demo", "--json", *argv)
    assert code == 0, err
    doc: dict[str, Any] = json.loads(out)
    return doc
