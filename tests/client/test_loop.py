"""gungnir.client.run: uvloop by default, the stock loop on request."""

from __future__ import annotations

import asyncio

import uvloop

from gungnir.client import run


async def _loop_type() -> type:
    return type(asyncio.get_running_loop())


def test_run_uses_uvloop_by_default():
    assert issubclass(run(_loop_type()), uvloop.Loop)


def test_run_can_use_the_standard_loop():
    loop_type = run(_loop_type(), use_uvloop=False)
    assert not issubclass(loop_type, uvloop.Loop)
    assert issubclass(loop_type, asyncio.AbstractEventLoop)


def test_run_returns_the_result_and_propagates_errors():
    async def boom() -> None:
        raise KeyError("x")

    async def value() -> int:
        return 42

    assert run(value()) == 42
    try:
        run(boom())
    except KeyError as exc:
        assert exc.args == ("x",)
    else:
        raise AssertionError("the error was swallowed")
