"""Durable (epoch, vote) per group, and the voter view: the only state that survives a restart.

Why so careful: a vote that is forgotten on restart lets a daemon vote twice in one epoch,
and an epoch that goes backwards lets a stale leader win again.  So a write is: a temporary
file in the same directory, ``fsync`` it, ``rename`` it over the old file, ``fsync`` the
directory.  A reader sees the old record or the new one, never half of one.

A file that exists but cannot be read back (truncated, corrupt, another group's, wrong
checksum) is a start-up error with the path and the reason, never a silent reset to epoch 0:
a reset would be exactly the double-vote bug this file exists to prevent.

A missing file is *not* proof that this daemon never voted: a node replaced under the same
name, or a wiped hostPath, starts empty.  So a missing file loads as ``amnesiac``, and the core
votes again only once it has proved which epochs it cannot have voted in (the lost-state rule,
:mod:`gungnir.core.amnesia`).  The flag is written with the first save and cleared only by the
core, so a crash before the proof keeps it.

Identity: under Kubernetes the file is ``<state-dir>/<namespace>/<group>.state.json``: two
namespaces with a group of one name on one node share no epoch or vote.  The old
``<state-dir>/<group>.state.json`` is still read for the upgrade; it may have been shared by
such namespaces, so it proves nothing about this one's votes: its epoch (a floor) and voter
view are kept, its vote is not, and the state loads as amnesiac.  The old file is left in
place (another namespace may still need it) and is never written again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

__all__ = ["DurableState", "StateStore", "StoreError"]

FORMAT = 1
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


class StoreError(RuntimeError):
    """The state file cannot be read or written; the message names the file and the fix."""


@dataclass(frozen=True)
class DurableState:
    """``voters``/``next_voters``/``voters_epoch``: the voter view (empty ``voters``: never
    changed, the configured set applies); files written before voter changes have none."""

    epoch: int = 0
    vote: str | None = None
    voters: tuple[str, ...] = ()
    next_voters: tuple[str, ...] = ()
    voters_epoch: int = 0
    amnesiac: bool = False


def _digest(body: dict[str, object]) -> str:
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


class StateStore:
    """The state file of one (daemon, namespace, group) under ``directory``; ``namespace``
    None (a daemon outside Kubernetes) keeps the one-directory layout."""

    def __init__(
        self,
        directory: str | os.PathLike[str],
        daemon: str,
        group: str,
        namespace: str | None = None,
    ) -> None:
        self.root = Path(directory)
        self.daemon = daemon
        self.group = group
        self.namespace = namespace
        name = f"{_SAFE.sub('_', group)}.state.json"
        self.legacy: Path | None = None
        if namespace:
            self.directory = self.root / _SAFE.sub("_", namespace)
            self.legacy = self.root / name
        else:
            self.directory = self.root
        self.path = self.directory / name

    def load(self) -> DurableState:
        """The persisted state.  A missing file loads amnesiac (see the module docstring); so
        does an old shared-layout file, with its epoch as the floor."""
        if self.legacy is not None and not self.path.exists() and self.legacy.exists():
            old = self._read(self.legacy, None)
            return dataclasses.replace(old, vote=None, amnesiac=True)
        return self._read(self.path, self.namespace)

    def _read(self, path: Path, namespace: str | None) -> DurableState:
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return DurableState(amnesiac=True)
        except OSError as exc:
            raise StoreError(f"cannot read state file {path}: {exc.strerror}") from exc
        fix = (
            "it is corrupt or truncated; restore it from a backup, or delete it only if you "
            "know this daemon never voted (a deleted vote can be cast twice)"
        )
        try:
            doc = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise StoreError(f"state file {path} is unreadable ({exc}): {fix}") from None
        if not isinstance(doc, dict) or not isinstance(doc.get("body"), dict):
            raise StoreError(f"state file {path} has no body: {fix}")
        body = doc["body"]
        if doc.get("sha256") != _digest(body):
            raise StoreError(f"state file {path} fails its checksum: {fix}")
        if body.get("format") != FORMAT:
            raise StoreError(f"state file {path} has unknown format {body.get('format')!r}")
        owner = (body.get("daemon"), body.get("namespace"), body.get("group"))
        if owner != (self.daemon, namespace, self.group):
            raise StoreError(
                f"state file {path} belongs to daemon {owner[0]!r} namespace {owner[1]!r} "
                f"group {owner[2]!r}, not {self.daemon!r} {namespace!r} {self.group!r}: "
                "check state_dir"
            )
        epoch, vote = body.get("epoch"), body.get("vote")
        if not isinstance(epoch, int) or isinstance(epoch, bool) or epoch < 0:
            raise StoreError(f"state file {path} has a bad epoch {epoch!r}: {fix}")
        if vote is not None and not isinstance(vote, str):
            raise StoreError(f"state file {path} has a bad vote {vote!r}: {fix}")
        names = {}
        for key in ("voters", "next_voters"):
            value = body.get(key, [])
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise StoreError(f"state file {path} has a bad {key} {value!r}: {fix}")
            names[key] = tuple(value)
        vepoch = body.get("voters_epoch", 0)
        if not isinstance(vepoch, int) or isinstance(vepoch, bool) or vepoch < 0:
            raise StoreError(f"state file {path} has a bad voters_epoch {vepoch!r}: {fix}")
        amnesiac = body.get("amnesiac", False)
        if not isinstance(amnesiac, bool):
            raise StoreError(f"state file {path} has a bad amnesiac {amnesiac!r}: {fix}")
        return DurableState(epoch, vote, names["voters"], names["next_voters"], vepoch, amnesiac)

    def save(self, state: DurableState) -> None:
        """Write, fsync, rename, fsync the directory.  Raises :class:`StoreError`."""
        body: dict[str, object] = {
            "format": FORMAT,
            "daemon": self.daemon,
            "group": self.group,
            "epoch": state.epoch,
            "vote": state.vote,
        }
        if self.namespace:
            body["namespace"] = self.namespace
        if state.amnesiac:
            body["amnesiac"] = True
        if state.voters:
            body["voters"] = list(state.voters)
            body["next_voters"] = list(state.next_voters)
            body["voters_epoch"] = state.voters_epoch
        data = json.dumps({"body": body, "sha256": _digest(body)}, sort_keys=True).encode()
        tmp = self.path.with_name(self.path.name + ".tmp")
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view) :]
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, self.path)
            dfd = os.open(self.directory, os.O_RDONLY)
            try:
                os.fsync(dfd)
            finally:
                os.close(dfd)
        except OSError as exc:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise StoreError(f"cannot persist state to {self.path}: {exc.strerror}") from exc
