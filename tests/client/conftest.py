"""Fixtures for the client tests: run a coroutine on uvloop or on the stock asyncio loop.

There is no pytest-asyncio here on purpose: each test is a plain function that runs its
coroutine with :func:`gungnir.client.run`, wrapped in a deadline so a hang fails the test
instead of stalling the suite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from gungnir.client import run

Runner = Callable[[Coroutine[Any, Any, Any]], Any]

HANG_GUARD = 60.0


def _runner(use_uvloop: bool, guard: float = HANG_GUARD) -> Runner:
    def go(coro: Coroutine[Any, Any, Any]) -> Any:
        async def guarded() -> Any:
            async with asyncio.timeout(guard):
                return await coro

        return run(guarded(), use_uvloop=use_uvloop)

    return go


@pytest.fixture(params=["uvloop", "asyncio"])
def arun_both(request: pytest.FixtureRequest) -> Runner:
    """Run on each loop in turn (the client must work on both)."""
    return _runner(request.param == "uvloop")


@pytest.fixture
def arun() -> Runner:
    """Run on uvloop, the default loop."""
    return _runner(True)
