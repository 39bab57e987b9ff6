"""Start-up errors that name what the operator must change (issue 22), on real processes.

A ``state_dir`` the daemon cannot write used to be accepted at start (the daemon failed at
its first vote); a chmod-000 one gave ``cannot read state file …: Permission denied`` naming
a file and no fix; a metrics port clash printed the RESP address.  Root ignores file modes,
so under root the daemon runs as ``nobody`` (setpriv) for the permission cases.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from gungnir.local import wait_until
from gungnir.runtime.cluster import DaemonProcess, cluster_docs, write_docs
from gungnir.runtime.preflight import check_state_dir
from gungnir.runtime.store import StoreError

pytestmark = pytest.mark.slow

NOBODY = 65534


def _launcher() -> list[str]:
    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("running as root without setpriv: file modes cannot be tested")
    return ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


@pytest.fixture
def world_readable() -> Iterator[Path]:
    """A directory ``nobody`` can traverse (pytest's tmp_path is private to its user)."""
    base = Path(tempfile.mkdtemp(prefix="gungnir-startup-"))
    base.chmod(0o755)
    try:
        yield base
    finally:
        for path in base.rglob("*"):  # chmod-000 directories included
            if path.is_dir():
                path.chmod(0o755)
        shutil.rmtree(base)


def _exit_of(
    base: Path, mode: int, *, with_state: bool, file_mode: int = 0o600
) -> tuple[int | None, str, Path]:
    """Start d1 with its state_dir at ``mode`` (the daemon's own when 0o700) and a state
    file at ``file_mode``; return its exit code, output and state_dir."""
    docs = cluster_docs({"n": ("127.0.0.1", 1)}, base)
    del docs[0]["daemon"]["decision_log"]  # only the state_dir is under test
    path = write_docs(docs[:1], base)[0]
    path.chmod(0o644)
    state = Path(docs[0]["daemon"]["state_dir"])
    state.mkdir(parents=True)
    state.parent.chmod(0o755)
    if with_state:
        (state / "demo.state.json").write_text(json.dumps({"body": {}}))
        (state / "demo.state.json").chmod(file_mode)
    if mode == 0o700 and os.geteuid() == 0:
        os.chown(state, NOBODY, NOBODY)  # the daemon (nobody) owns its state_dir
    state.chmod(mode)
    p = DaemonProcess(path, launcher=_launcher()).start()
    try:
        wait_until(lambda: not p.running(), timeout=20, what="the daemon to refuse to start")
    finally:
        code = p.stop()
    return code, p.output(), state


def test_a_state_dir_the_daemon_cannot_write_is_refused_at_start(world_readable: Path) -> None:
    code, out, state = _exit_of(world_readable, 0o555, with_state=False)
    assert code == 3, out
    assert f"state_dir {state} is not usable: Permission denied" in out
    assert f"chmod 700 {state}" in out
    assert not list(state.iterdir())  # nothing was left behind


def test_a_chmod_000_state_dir_names_the_directory_and_the_fix(world_readable: Path) -> None:
    code, out, state = _exit_of(world_readable, 0o000, with_state=True)
    assert code == 3, out
    assert f"state_dir {state} is not usable: Permission denied" in out
    assert "cannot read state file" not in out
    assert "Fix: let user " in out


def test_an_unreadable_state_file_names_its_directory_and_the_fix(world_readable: Path) -> None:
    code, out, state = _exit_of(world_readable, 0o700, with_state=True, file_mode=0o000)
    assert code == 3, out
    file = state / "demo.state.json"
    assert f"state file {file} in state_dir {state} is not usable: Permission denied" in out
    assert "chown -R " in out and "cannot read state file" not in out


def test_a_read_only_file_system_is_named_as_such(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_open = os.open

    def erofs(path: object, flags: int, *args: object) -> int:
        if flags & os.O_CREAT:
            raise OSError(errno.EROFS, os.strerror(errno.EROFS))
        return real_open(path, flags, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", erofs)
    with pytest.raises(StoreError, match=r"Read-only file system.*Fix: mount .* read-write"):
        check_state_dir(tmp_path)


def test_a_metrics_port_clash_names_the_metrics_address(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        docs = cluster_docs({"n": ("127.0.0.1", 1)}, tmp_path)
        docs[0]["daemon"]["metrics_bind"] = f"127.0.0.1:{port}"
        p = DaemonProcess(write_docs(docs[:1], tmp_path)[0]).start()
        try:
            wait_until(lambda: not p.running(), timeout=20, what="the daemon to exit")
        finally:
            code = p.stop()
    assert code == 2
    out = p.output()
    assert f"cannot listen on 127.0.0.1:{port} (daemon.metrics_bind)" in out, out
    resp_port = docs[0]["peers"]["d1"].rsplit(":", 1)[1]
    assert f"127.0.0.1:{resp_port}" not in out
