"""Fixtures for the fault tests: a machine that can make network namespaces, a results dir.

Tests that build namespaces ask for ``net_ready``; on a machine without root, ``ip`` or
``nft`` they are skipped with the reason. The pure checker tests need none of it. Leftovers
of an earlier run that died (namespaces whose creator is gone) are removed once per session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from gungnir.faults.net import sweep_leftovers, unavailable_reason


@pytest.fixture(scope="session")
def net_ready() -> Iterator[None]:
    reason = unavailable_reason()
    if reason:
        pytest.skip(reason)
    sweep_leftovers()
    yield


@pytest.fixture
def results_dir(tmp_path: Path) -> Path:
    path = tmp_path / "results"
    path.mkdir()
    return path
