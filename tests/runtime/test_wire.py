"""Peer message codec: every message type round-trips; bad input is a WireError."""

from __future__ import annotations

import pytest

from gungnir.core import (
    Config,
    ConfigAnnounce,
    ConfigQuery,
    DownReport,
    FenceNotice,
    VoteReply,
    VoteRequest,
)
from gungnir.runtime.wire import WireError, decode, encode

MESSAGES = [
    DownReport("g", "d1", "n1", True, 3),
    VoteRequest("g", "d1", 4, "n2", "abc", 1234, "switchover"),
    VoteReply("g", "d2", 4, "d1", False, "stale"),
    ConfigAnnounce("g", "d1", Config(4, "n2", ("n1", "n3")), 4, reply_to=1.5),
    ConfigAnnounce("g", "d1", Config(0, None, ()), 0),
    ConfigQuery("g", "d3", 12.25, 4),
    FenceNotice("g", "d1", 4, "n1"),
]


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: type(m).__name__)
def test_round_trip(msg):
    assert decode(encode(msg)) == msg


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\xff\xfe",
        b"[]",
        b'{"type":"Nope"}',
        b'{"type":"DownReport","group":"g","sender":"d1","node":"n","down":true}',
        b'{"type":"DownReport","group":"g","sender":"d1","node":"n","down":1,"epoch":1}',
        b'{"type":"DownReport","group":"g","sender":"d1","node":"n","down":true,"epoch":-1}',
        b'{"type":"DownReport","group":"g","sender":"d1","node":"n","down":true,"epoch":1,"x":0}',
        b'{"type":"ConfigAnnounce","group":"g","sender":"d","config":{"epoch":1},"epoch":1}',
        b"x" * 70_000,
    ],
)
def test_bad_input_is_refused(data):
    with pytest.raises(WireError):
        decode(data)
