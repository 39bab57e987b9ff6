"""Shared fixtures: real valkey-server processes from ``gungnir.local``.

Each fixture starts its servers on 127.0.0.1 with ephemeral ports and stops them by pid when
the test ends, whatever the outcome.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from types import FrameType

import pytest

from gungnir.local import LocalGroup, ValkeyProcess, start_group, start_node


def _terminate_like_ctrl_c(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def pytest_configure(config: pytest.Config) -> None:
    """A SIGTERM (a CI job cancelled, ``timeout``, ``kill``) would end the run without
    teardown or ``atexit``, leaving every valkey-server of the running tests behind.  Treat it
    like Ctrl-C, which pytest turns into an orderly stop that runs the fixtures' teardown."""
    if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
        signal.signal(signal.SIGTERM, _terminate_like_ctrl_c)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Under pytest-xdist (``./dev test`` runs two workers), keep the model checker's tests
    on one worker.  They are CPU-bound and single-threaded; two of them at once would take
    both cores from the tests that run real servers and daemons with timeouts, while one
    worker of CPU next to one of mostly-waiting integration tests is what two cores do best.
    Without xdist the mark does nothing."""
    for item in items:
        if item.path.parent.name == "verify":
            item.add_marker(pytest.mark.xdist_group("model-checker"))


@pytest.fixture
def valkey_node() -> Iterator[ValkeyProcess]:
    """A fresh standalone valkey-server for one test."""
    with start_node() as node:
        yield node


@pytest.fixture
def valkey_group() -> Iterator[LocalGroup]:
    """A primary with two replicas, replication established, for one test."""
    with start_group(replicas=2) as group:
        yield group
