"""Durable epoch and vote: round trip, atomic replace, and loud failures on bad files."""

from __future__ import annotations

import json

import pytest

from gungnir.runtime.store import DurableState, StateStore, StoreError


def test_missing_file_loads_amnesiac(tmp_path):
    """A missing file may be a first start or a lost state (a node replaced under the same
    name): the core's lost-state rule decides, so the store says which it cannot tell."""
    assert StateStore(tmp_path, "d1", "g").load() == DurableState(0, None, amnesiac=True)


def test_the_amnesiac_mark_is_written_and_cleared(tmp_path):
    store = StateStore(tmp_path, "d1", "g")
    store.save(DurableState(0, None, amnesiac=True))
    assert StateStore(tmp_path, "d1", "g").load().amnesiac
    store.save(DurableState(4, None))
    assert StateStore(tmp_path, "d1", "g").load() == DurableState(4, None)


def test_two_namespaces_with_one_group_name_share_nothing(tmp_path):
    a = StateStore(tmp_path, "node-1", "valkey", namespace="team-a")
    b = StateStore(tmp_path, "node-1", "valkey", namespace="team-b")
    assert a.path != b.path
    a.save(DurableState(5, "node-2"))
    assert b.load() == DurableState(0, None, amnesiac=True)  # b never voted: nothing of a's
    b.save(DurableState(1, "node-3"))
    assert a.load() == DurableState(5, "node-2")
    assert b.load() == DurableState(1, "node-3")


def test_a_file_of_another_namespace_is_refused(tmp_path):
    StateStore(tmp_path, "d1", "g", namespace="a").save(DurableState(2, "d2"))
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "g.state.json").rename(tmp_path / "b" / "g.state.json")
    with pytest.raises(StoreError, match="namespace 'a'"):
        StateStore(tmp_path, "d1", "g", namespace="b").load()


def test_the_old_shared_file_is_read_once_as_a_floor_and_left_in_place(tmp_path):
    """An upgrade: the old per-group file may have been shared by two namespaces, so it
    proves nothing about this one's vote; its epoch is kept as a floor, amnesiac."""
    StateStore(tmp_path, "d1", "g").save(DurableState(6, "d2", ("d1", "d2", "d3"), (), 4))
    store = StateStore(tmp_path, "d1", "g", namespace="ns")
    loaded = store.load()
    assert loaded == DurableState(6, None, ("d1", "d2", "d3"), (), 4, amnesiac=True)
    store.save(loaded)  # the first Persist of the core writes the new path
    assert store.path == tmp_path / "ns" / "g.state.json" and store.path.exists()
    assert (tmp_path / "g.state.json").exists()  # another namespace may still need it
    store.save(DurableState(8, None))
    assert StateStore(tmp_path, "d1", "g", namespace="ns").load() == DurableState(8, None)


def test_round_trip_and_overwrite(tmp_path):
    store = StateStore(tmp_path / "new", "d1", "g")
    store.save(DurableState(3, "d2"))
    store.save(DurableState(4, None))
    assert StateStore(tmp_path / "new", "d1", "g").load() == DurableState(4, None)
    assert not list((tmp_path / "new").glob("*.tmp"))


@pytest.mark.parametrize("cut", [0, 1, 10, -1])
def test_truncated_file_is_a_clear_error(tmp_path, cut):
    store = StateStore(tmp_path, "d1", "g")
    store.save(DurableState(7, "d1"))
    data = store.path.read_bytes()
    store.path.write_bytes(data[:cut] if cut >= 0 else data[:-1])
    with pytest.raises(StoreError, match="corrupt or truncated"):
        store.load()


def test_tampered_epoch_fails_checksum(tmp_path):
    store = StateStore(tmp_path, "d1", "g")
    store.save(DurableState(7, "d1"))
    doc = json.loads(store.path.read_text())
    doc["body"]["epoch"] = 1
    store.path.write_text(json.dumps(doc))
    with pytest.raises(StoreError, match="checksum"):
        store.load()


def test_another_daemons_file_is_refused(tmp_path):
    StateStore(tmp_path, "d2", "g").save(DurableState(2, "d2"))
    with pytest.raises(StoreError, match="belongs to daemon 'd2'"):
        StateStore(tmp_path, "d1", "g").load()


def test_unwritable_directory_is_a_store_error(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match="cannot persist"):
        StateStore(blocker / "sub", "d1", "g").save(DurableState(1, None))
