"""The local Valkey launcher that every other live test stands on."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys

import pytest

from gungnir import local
from gungnir.local import (
    LocalGroup,
    StartupError,
    ValkeyProcess,
    pid_alive,
    start_group,
    start_node,
    wait_until,
)


def test_group_of_one_plus_two_replicates(valkey_group: LocalGroup) -> None:
    assert valkey_group.primary.info()["role"] == "master"
    assert valkey_group.primary.info()["connected_slaves"] == "2"
    for replica in valkey_group.replicas:
        info = replica.info()
        assert info["role"] == "slave"
        assert info["master_link_status"] == "up"
        assert int(info["master_port"]) == valkey_group.primary.port


def test_writes_reach_replicas(valkey_group: LocalGroup) -> None:
    valkey_group.primary.command("SET", "k", "v")
    assert valkey_group.primary.command("WAIT", "2", "5000") == 2
    for replica in valkey_group.replicas:
        assert replica.command("GET", "k") == b"v"


def test_nodes_are_loopback_without_persistence(valkey_node: ValkeyProcess) -> None:
    assert valkey_node.host == "127.0.0.1"
    config = valkey_node.command("CONFIG", "GET", "save")
    assert list(config.values() if isinstance(config, dict) else config[1::2]) == [b""]
    assert valkey_node.command("CONFIG", "GET", "appendonly") in (
        {b"appendonly": b"no"},
        [b"appendonly", b"no"],
    )


def test_teardown_leaves_no_process_behind() -> None:
    with start_group(replicas=2) as group:
        pids = [node.pid for node in group.nodes]
        assert all(pid is not None and pid_alive(pid) for pid in pids)
    assert not any(pid_alive(pid) for pid in pids if pid is not None)


def test_teardown_happens_when_the_caller_fails() -> None:
    pids: list[int] = []
    with pytest.raises(RuntimeError, match="boom"), start_group(replicas=1) as group:
        pids = [node.pid for node in group.nodes if node.pid is not None]
        raise RuntimeError("boom")
    assert pids and not any(pid_alive(pid) for pid in pids)


def test_paused_node_is_still_stopped() -> None:
    with start_node() as node:
        pid = node.pid
        assert pid is not None
        node.kill(signal.SIGSTOP)
    assert not pid_alive(pid)


def test_port_clash_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first port offered is already bound by someone else; start() moves on."""
    squatter = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    squatter.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    squatter.bind(("127.0.0.1", 0))
    squatter.listen(1)
    taken = squatter.getsockname()[1]
    offered = iter([taken])
    real_free_port = local.free_port
    monkeypatch.setattr(
        local, "free_port", lambda host="127.0.0.1": next(offered, None) or real_free_port(host)
    )
    try:
        with start_node() as node:
            assert node.port != taken
            assert node.command("PING") == b"PONG"
    finally:
        squatter.close()


def test_port_held_by_another_valkey_is_retried(monkeypatch: pytest.MonkeyPatch) -> None:
    """The squatter answers PING like ours would; start() must still see the clash."""
    with start_node() as squatter:
        offered = iter([squatter.port])
        real_free_port = local.free_port
        monkeypatch.setattr(
            local, "free_port", lambda host="127.0.0.1": next(offered, None) or real_free_port(host)
        )
        with start_node() as node:
            assert node.port != squatter.port
            assert node.is_running()
            assert node.info("server")["process_id"] == str(node.pid)


def test_fixed_port_clash_is_a_clear_error() -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen(1)
        node = ValkeyProcess(port=squatter.getsockname()[1], startup_timeout=5.0)
        with pytest.raises(StartupError, match="in use"):
            node.start()
        assert not node.is_running()


def test_restart_keeps_the_port(valkey_node: ValkeyProcess) -> None:
    port, pid = valkey_node.port, valkey_node.pid
    valkey_node.restart()
    assert valkey_node.port == port and valkey_node.pid != pid
    assert valkey_node.command("PING") == b"PONG"


def test_binary_override_must_be_executable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(local.BINARY_ENV, "/nonexistent/valkey-server")
    with pytest.raises(StartupError, match="not an executable"):
        local.valkey_binary()


def test_atexit_stops_leftovers() -> None:
    """A process that starts servers and exits without stopping them leaves none behind."""
    code = (
        "from gungnir.local import ValkeyProcess\n"
        "n = ValkeyProcess().start()\n"
        "print(n.pid, flush=True)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert not pid_alive(int(out.stdout.split()[0]))


def test_pid_alive_sees_running_zombie_and_reaped_processes() -> None:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    assert pid_alive(os.getpid())
    wait_until(lambda: not pid_alive(child.pid), timeout=10, what="the exited child (a zombie)")
    assert child.poll() is not None  # reaped now: the pid is gone entirely
    assert not pid_alive(child.pid)
