"""What a daemon checks before it serves: a ``state_dir`` it can write, endpoints it can bind.

Why at start: a daemon whose ``state_dir`` is read-only starts, probes, reports healthy, and
fails only at its first vote, when it cannot persist it; that is the worst moment to find
out (issue 22).  And an error must name the thing the operator has to change: the directory
and its fix, not a state file's ``Permission denied``; the address that clashed, not the
daemon's other one.
"""

from __future__ import annotations

import contextlib
import errno
import os
from pathlib import Path

from .store import StoreError

__all__ = ["ListenError", "check_state_dir"]


class ListenError(OSError):
    """An endpoint could not listen; the message names the config key and its address."""

    def __init__(self, key: str, address: tuple[str, int], cause: OSError) -> None:
        host, port = address
        why = cause.strerror or str(cause)
        super().__init__(cause.errno, f"cannot listen on {host}:{port} ({key}): {why}")


def _user() -> str:
    """The name the operator would ``chown`` to (the uid when the name is unknown)."""
    try:
        import pwd

        return pwd.getpwuid(os.geteuid()).pw_name
    except (ImportError, KeyError):
        return str(os.geteuid())


def check_state_dir(directory: Path) -> None:
    """Create ``directory`` if needed and prove the daemon can save state there: create,
    write, fsync and remove a file, and fsync the directory, as every save will; and read
    the state files already there.  Raises :class:`StoreError` naming the directory (and the
    file) and the fix."""
    probe = directory / f".gungnir-write-check-{os.getpid()}"
    try:
        directory.mkdir(parents=True, exist_ok=True)
        _synced(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, b"ok")
        os.unlink(probe)
        _synced(directory, os.O_RDONLY)
    except OSError as exc:
        with contextlib.suppress(OSError):
            probe.unlink()
        raise StoreError(_explain(directory, exc)) from exc
    for path in sorted(directory.rglob("*.state.json")):
        try:
            with path.open("rb"):
                pass
        except OSError as exc:  # one file restored as another user, or chmod'ed
            raise StoreError(_explain(directory, exc, path)) from exc


def _synced(path: Path, flags: int, data: bytes = b"") -> None:
    """Open ``path`` with ``flags``, write ``data``, fsync and close it."""
    fd = os.open(path, flags, 0o600)
    try:
        if data:
            os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def _explain(directory: Path, exc: OSError, file: Path | None = None) -> str:
    what = f"state file {file} in state_dir {directory}" if file else f"state_dir {directory}"
    head = (
        f"{what} is not usable: {exc.strerror or exc}. The daemon saves its epoch and vote "
        "there before it acts on them, so it does not start without it"
    )
    if exc.errno == errno.EROFS:
        fix = f"mount {directory} read-write, or set daemon.state_dir to a writable directory"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        user = _user()
        fix = (
            f"let user {user} read and write it (chown -R {user} {directory} && "
            f"chmod 700 {directory}), or set daemon.state_dir to a directory {user} owns"
        )
    else:
        fix = "set daemon.state_dir to a writable local directory"
    return f"{head}. Fix: {fix}"
