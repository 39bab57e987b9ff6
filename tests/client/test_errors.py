"""Client errors carry the address and fit the builtin hierarchy."""

from __future__ import annotations

import builtins

from gungnir.client import (
    ClientError,
    CommandTimeoutError,
    ConnectError,
    ConnectionClosedError,
    ConnectionError,
    ConnectionLostError,
    ConnectTimeoutError,
    PoolClosedError,
    PoolTimeoutError,
    TimeoutError,
)


def test_connection_errors():
    for cls in (ConnectError, ConnectionLostError, ConnectionClosedError, PoolClosedError):
        err = cls(("10.0.0.7", 6380), "went away")
        assert isinstance(err, ConnectionError) and isinstance(err, ClientError)
        assert isinstance(err, builtins.ConnectionError) and isinstance(err, OSError)
        assert err.address == ("10.0.0.7", 6380) and err.reason == "went away"
        assert str(err) == "10.0.0.7:6380: went away"


def test_timeout_errors():
    for cls in (ConnectTimeoutError, CommandTimeoutError, PoolTimeoutError):
        err = cls(("::1", 6379), "slow")
        assert isinstance(err, TimeoutError) and isinstance(err, builtins.TimeoutError)
        assert not isinstance(err, builtins.ConnectionError)
        assert str(err) == "[::1]:6379: slow"  # IPv6 hosts are bracketed
