"""Shared fixtures: real valkey-server processes from ``gungnir.local``.

Each fixture starts its servers on 127.0.0.1 with ephemeral ports and stops them by pid when
the test ends, whatever the outcome.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from gungnir.local import LocalGroup, ValkeyProcess, start_group, start_node


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
