"""The test network really cuts traffic, heals, and leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from gungnir.faults.net import NetError, TestNet, run, sweep_leftovers
from gungnir.local import ValkeyProcess, pid_alive, wait_until

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("net_ready")]


def _namespaces() -> set[str]:
    return {line.split()[0] for line in run(["ip", "netns", "list"]).splitlines() if line}


def _links() -> str:
    return run(["ip", "-o", "link", "show"])


def _server(net: TestNet, host: str) -> ValkeyProcess:
    h = net.hosts[host]
    return ValkeyProcess(host=h.address, port=6379, name=host, launcher=h.launcher).start()


def test_partition_cuts_new_connections_and_heals() -> None:
    with TestNet(["a", "b", "c"]) as net:
        server = _server(net, "b")
        try:
            b = net.hosts["b"].address
            assert net.connect_ok("a", b, 6379)
            assert net.connect_ok(None, b, 6379)

            pairs = net.block(["a"], ["b"])
            assert not net.connect_ok("a", b, 6379, timeout=0.5)
            assert net.connect_ok("c", b, 6379), "a cut between a and b must not affect c"
            assert net.connect_ok(None, b, 6379), "the controller sees both sides"

            net.unblock(pairs)
            assert net.connect_ok("a", b, 6379)
        finally:
            server.cleanup()


def test_overlapping_blocks_heal_only_their_share() -> None:
    with TestNet(["a", "b"]) as net:
        server = _server(net, "b")
        try:
            b = net.hosts["b"].address
            first = net.block(["a"], ["b"])
            second = net.block(["b"], ["a"])
            net.unblock(first)
            assert not net.connect_ok("a", b, 6379, timeout=0.5), "second block still holds"
            net.unblock(second)
            assert net.connect_ok("a", b, 6379)
        finally:
            server.cleanup()


def test_link_down_and_full_loss_cut_the_controller_too() -> None:
    with TestNet(["a"]) as net:
        server = _server(net, "a")
        try:
            a = net.hosts["a"].address
            net.set_link("a", False)
            assert not net.connect_ok(None, a, 6379, timeout=0.5)
            net.set_link("a", True)
            wait_until(lambda: net.connect_ok(None, a, 6379), timeout=10, what="link back up")

            net.set_loss("a", 100)
            assert not net.connect_ok(None, a, 6379, timeout=0.5)
            net.set_loss("a", 0)
            assert net.connect_ok(None, a, 6379)
            with pytest.raises(ValueError):
                net.set_loss("a", 101)
        finally:
            server.cleanup()


def test_partition_cuts_an_established_replication_link() -> None:
    """Not only new connections: packets of a live TCP stream are dropped, then flow again."""
    with TestNet(["a", "b"]) as net:
        primary, replica = _server(net, "a"), _server(net, "b")
        try:
            replica.replicaof(primary)
            wait_until(
                lambda: replica.info().get("master_link_status") == "up",
                timeout=10,
                what="replication",
            )
            pairs = net.block(["a"], ["b"])
            primary.command("SET", "k", "during-cut")
            deadline = time.monotonic() + 2.0
            while time.monotonic() < deadline:  # the write must not cross the cut meanwhile
                assert replica.command("GET", "k") is None
                time.sleep(0.1)
            net.unblock(pairs)
            wait_until(
                lambda: replica.command("GET", "k") == b"during-cut",
                timeout=30,
                what="the write to cross after the heal",
            )
        finally:
            replica.cleanup()
            primary.cleanup()


def test_destroy_removes_namespaces_leg_and_processes_even_on_error() -> None:
    net = TestNet(["a", "b"])
    with pytest.raises(RuntimeError, match="boom"), net:
        server = _server(net, "a")
        stray = subprocess.Popen([*net.hosts["b"].launcher, "sleep", "300"])
        names = set(net.namespaces())
        assert names <= _namespaces()
        assert net.leg in _links()
        raise RuntimeError("boom")
    assert not names & _namespaces()
    assert net.leg not in _links()
    stray.wait(10)  # killed by pid because it ran inside one of our namespaces
    assert not pid_alive(stray.pid)
    server.cleanup()


def test_bad_command_raises_a_clear_error_and_cleans_up() -> None:
    net = TestNet(["a"])
    with net:
        with pytest.raises(NetError, match="failed"):
            run(["ip", "link", "set", "gnf-nonexistent", "up"])
        assert net.hosts["a"].netns in _namespaces()
    assert net.hosts["a"].netns not in _namespaces()


def _child_with_net(ready_marker: str) -> subprocess.Popen[str]:
    code = textwrap.dedent(
        f"""
        import sys, time
        from gungnir.faults.net import TestNet
        with TestNet(["a"]) as net:
            print(net.tag, flush=True)
            print({ready_marker!r}, flush=True)
            time.sleep(120)
        """
    )
    return subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, cwd=os.getcwd()
    )


def _read_tag(child: subprocess.Popen[str]) -> str:
    assert child.stdout is not None
    tag = child.stdout.readline().strip()
    assert child.stdout.readline().strip() == "READY"
    return tag


def test_ctrl_c_cleans_up() -> None:
    child = _child_with_net("READY")
    tag = _read_tag(child)
    assert any(tag in name for name in _namespaces())
    child.send_signal(signal.SIGINT)
    child.wait(30)
    assert not any(tag in name for name in _namespaces())


def test_sweep_removes_what_a_killed_run_left() -> None:
    child = _child_with_net("READY")
    tag = _read_tag(child)
    child.kill()  # SIGKILL: no chance to clean up
    child.wait(10)
    assert any(tag in name for name in _namespaces())
    with TestNet(["a"]) as live:  # a run in progress must survive the sweep
        removed = sweep_leftovers()
        assert any(tag in name for name in removed)
        assert not any(tag in name for name in _namespaces())
        assert live.switch in _namespaces()
