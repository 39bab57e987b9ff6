"""Gungnir: high availability for Valkey.

The package has four layers (see ``docs/`` and the README):

* ``gungnir.resp``: the RESP2/RESP3 codec (Cython, with a pure-Python twin),
* ``gungnir.client``: the asyncio client built on the codec,
* ``gungnir.core``: the pure failover state machine, and ``gungnir.verify`` that checks it,
* ``gungnir.runtime`` / ``gungnir.kube``: the I/O shells that run the core for real.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
