"""Gungnir: high availability for Valkey.

The package has four layers (see ``docs/`` and the README):

* ``gungnir.resp``: the RESP2/RESP3 codec (Cython, with a pure-Python twin),
* ``gungnir.client``: the asyncio client built on the codec,
* ``gungnir.core``: the pure failover state machine, and ``gungnir.verify`` that checks it,
* ``gungnir.runtime`` / ``gungnir.kube``: the I/O shells that run the core for real.

``import gungnir`` stays light on purpose (the daemon's and the checker's imports are paid only
by what uses them); :func:`run` imports the event-loop machinery when first called.
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, TypeVar

__version__ = "0.1.0"

__all__ = ["__version__", "run"]

_T = TypeVar("_T")


def run(coro: Coroutine[Any, Any, _T], *, use_uvloop: bool = True) -> _T:
    """Run ``coro`` to completion on uvloop (the standard loop with ``use_uvloop=False``)."""
    from gungnir.client.loop import run as _run

    return _run(coro, use_uvloop=use_uvloop)
