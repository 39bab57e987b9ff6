"""Run a coroutine on uvloop when it is installed, else on the standard asyncio loop.

The client works on both; uvloop is simply faster (its transports and callbacks are C),
so ``gungnir.run(main())`` and the CLI use it by default.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

__all__ = ["loop_factory", "run"]

T = TypeVar("T")


def loop_factory(use_uvloop: bool = True) -> Callable[[], asyncio.AbstractEventLoop]:
    """A new-loop factory: uvloop's if wanted and importable, else asyncio's."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:  # pragma: no cover - uvloop is a dependency, but optional here
            pass
        else:
            return uvloop.new_event_loop
    return asyncio.new_event_loop


def run(coro: Coroutine[Any, Any, T], *, use_uvloop: bool = True, debug: bool | None = None) -> T:
    """``asyncio.run`` on uvloop (by default): run ``coro`` to completion and return its
    result, closing the loop and cancelling leftover tasks afterwards."""
    with asyncio.Runner(loop_factory=loop_factory(use_uvloop), debug=debug) as runner:
        return runner.run(coro)
