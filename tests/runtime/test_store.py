"""Durable epoch and vote: round trip, atomic replace, and loud failures on bad files."""

from __future__ import annotations

import json

import pytest

from gungnir.runtime.store import DurableState, StateStore, StoreError


def test_missing_file_is_a_first_start(tmp_path):
    assert StateStore(tmp_path, "d1", "g").load() == DurableState(0, None)


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
