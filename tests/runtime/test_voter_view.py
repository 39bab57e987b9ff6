"""The voter view in the runtime: persisted next to (epoch, vote), carried on the wire."""

from __future__ import annotations

import hashlib
import json

import pytest

from gungnir.core import Config, ConfigAnnounce, VoteRequest
from gungnir.runtime.store import DurableState, StateStore, StoreError
from gungnir.runtime.wire import WireError, decode, encode

OLD = ("d1", "d2", "d3")
NEW = ("d2", "d3", "d4")


def test_the_view_round_trips_and_a_vote_does_not_lose_it(tmp_path):
    store = StateStore(tmp_path, "d2", "g")
    full = DurableState(4, "d2", OLD, NEW, 0)
    store.save(full)
    assert StateStore(tmp_path, "d2", "g").load() == full
    store.save(DurableState(5, None, NEW, (), 5))
    assert store.load() == DurableState(5, None, NEW, (), 5)


def test_a_file_from_before_voter_changes_loads_with_no_view(tmp_path):
    store = StateStore(tmp_path, "d1", "g")
    store.save(DurableState(2, "d1"))
    body = json.loads(store.path.read_text())["body"]
    assert "voters" not in body  # nothing new written while the view never moved
    assert store.load() == DurableState(2, "d1", (), (), 0)


@pytest.mark.parametrize(
    ("key", "value"), [("voters", "d1"), ("next_voters", [1]), ("voters_epoch", -1)]
)
def test_a_bad_view_is_a_clear_error(tmp_path, key, value):
    store = StateStore(tmp_path, "d1", "g")
    store.save(DurableState(2, "d1", OLD, NEW, 0))
    doc = json.loads(store.path.read_text())
    doc["body"][key] = value
    text = json.dumps(doc["body"], sort_keys=True, separators=(",", ":"))
    doc["sha256"] = hashlib.sha256(text.encode()).hexdigest()  # a well-formed but bad file
    store.path.write_text(json.dumps(doc))
    with pytest.raises(StoreError, match=key):
        store.load()


def test_vote_requests_and_configs_carry_the_view():
    req = VoteRequest("g", "d2", 3, "n1", "r", 10, "reconfig", OLD, NEW, 0)
    assert decode(encode(req)) == req
    ann = ConfigAnnounce("g", "d2", Config(3, "n1", ("n2",), NEW), 3)
    assert decode(encode(ann)) == ann
    plain = ConfigAnnounce("g", "d2", Config(3, "n1", ("n2",)), 3)
    assert b"voters" not in encode(plain)  # a peer without voter changes reads it as before
    assert decode(encode(plain)) == plain


@pytest.mark.parametrize(
    "body",
    [
        {"voters": "d1"},
        {"voters": ["d1", ""]},
        {"next_voters": [1, 2]},
    ],
)
def test_a_bad_view_on_the_wire_is_refused(body):
    base = json.loads(encode(VoteRequest("g", "d2", 3, "n1", "r", 10, "reconfig", OLD, NEW, 0)))
    base.update(body)
    with pytest.raises(WireError, match="names"):
        decode(json.dumps(base).encode())
