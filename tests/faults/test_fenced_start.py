"""Valkey nodes start fenced under Gungnir: no write and no sync before a daemon has vetted them.

The empty-restart race of docs/faults.md (a replica resyncing from a restarted empty primary in
the 0.1-0.2 s before a daemon's fence) closes only if the node's own configuration carries the
fence. Asserted here against real processes: the config lines, a node that starts and
restarts fenced, fresh daemons lifting the fence at bootstrap under both policies, and an empty
restart of the primary under running daemons during which the fence is never lifted.
"""

from __future__ import annotations

import contextlib
import signal
import socket
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from gungnir import resp
from gungnir.core import UNMEETABLE_REPLICAS
from gungnir.faults import nemesis as nm
from gungnir.faults.daemons import ConfigFileNode, GungnirSUT
from gungnir.faults.net import TestNet
from gungnir.local import ValkeyProcess, wait_until
from gungnir.runtime.startfence import DEFAULT_USER_RULES, fenced_user_rules, start_fence_lines

pytestmark = pytest.mark.faults


def _acl_commands(node: ValkeyProcess, user: str = "default") -> str:
    reply = node.command("ACL", "GETUSER", user)
    fields = dict(zip(reply[::2], reply[1::2], strict=True))
    return str(fields[b"commands"].decode())


def _min_replicas(node: ValkeyProcess) -> int:
    return int(node.command("CONFIG", "GET", "min-replicas-to-write")[1])


def _fenced(node: ValkeyProcess) -> bool:
    rules = _acl_commands(node).split()
    return _min_replicas(node) == UNMEETABLE_REPLICAS and {"-sync", "-psync"} <= set(rules)


def test_start_fence_lines() -> None:
    lines = start_fence_lines()
    assert lines == [
        f"min-replicas-to-write {UNMEETABLE_REPLICAS}",
        "user default on nopass ~* &* +@all -sync -psync",
    ]
    # A password stays (a user line replaces all of a user's rules); the denial comes last.
    app = start_fence_lines({"default": "on >pw ~* +@all", "app": "on >x -sync ~* +@all"})
    assert app[1:] == [
        "user default on >pw ~* +@all -sync -psync",
        "user app on >x ~* +@all -sync -psync",
    ]
    assert fenced_user_rules("on nopass +@all -psync") == "on nopass +@all -sync -psync"
    for bad in ({"default": "  "}, {"two words": "on"}, {"": "on"}):
        with pytest.raises(ValueError):
            start_fence_lines(bad)


def test_node_starts_and_restarts_fenced(tmp_path: Path) -> None:
    """The fence is in the node's own start-up config: an empty restart comes back fenced, and
    a user given with a password keeps it (a ``user`` line replaces all of a user's rules)."""
    with ValkeyProcess(name="plain") as plain:
        users = {"default": DEFAULT_USER_RULES, "app": "on >s3cret ~* &* +@all"}
        with ConfigFileNode(
            name="n1", workdir=tmp_path, conf_lines=start_fence_lines(users)
        ) as node:
            for _ in range(2):
                assert _fenced(node)
                assert str(node.command("SET", "k", "v")).startswith("NOREPLICAS")
                assert str(node.command("PSYNC", "?", "-1")).startswith("NOPERM")
                with contextlib.closing(_Authed(node, "app", "s3cret")) as app:
                    assert app.call("ACL", "WHOAMI") == b"app"
                    assert str(app.call("PSYNC", "?", "-1")).startswith("NOPERM")
                assert str(node.command("AUTH", "app", "wrong")).startswith("WRONGPASS")
                node.restart(empty=True)
        assert _min_replicas(plain) == 0 and "-sync" not in _acl_commands(plain)  # untouched


class _Authed:
    """One authenticated blocking connection (set-up and assertions only)."""

    def __init__(self, node: ValkeyProcess, user: str, password: str) -> None:
        self._sock = socket.create_connection(node.address, timeout=5)
        assert self.call("AUTH", user, password) == b"OK"

    def call(self, *args: Any) -> Any:
        self._sock.sendall(resp.pack_command(*args))
        reader = resp.Reader()
        while (reply := reader.gets()) is resp.NEED_DATA:
            reader.feed(self._sock.recv(65536))
        return reply

    def close(self) -> None:
        self._sock.close()


@pytest.mark.slow
@pytest.mark.usefixtures("net_ready")
@pytest.mark.parametrize("policy", ["availability", "consistency"])
def test_fresh_daemons_lift_the_fence_on_the_initial_primary_only(policy: str) -> None:
    """Bootstrap (fresh nodes, fresh daemons): the daemons' SetWriteQuorum gives the initial
    primary its write quorum and SYNC/PSYNC back; their Repoints make the others replicas."""
    sut = GungnirSUT({"policy": policy})
    with TestNet(sut.host_names()) as net:
        try:
            sut.start(net, Path(tempfile.mkdtemp(prefix="gungnir-fenced-")))
            n1, n2, n3 = (sut.nodes[n] for n in ("n1", "n2", "n3"))
            assert n1.command("ROLE")[0] == b"master"
            assert _min_replicas(n1) == sut.write_quorum
            assert "-sync" not in _acl_commands(n1).split()
            assert n1.command("SET", "k", "v") == b"OK"
            for replica in (n2, n3):
                assert replica.info()["master_link_status"] == "up"
            assert sut.convergence().ok
        finally:
            sut.stop()


@pytest.mark.slow
@pytest.mark.usefixtures("net_ready")
def test_empty_restart_of_the_primary_stays_fenced_until_failover() -> None:
    """The primary restarts empty under running daemons (consistency policy): from its first
    answer until it is a replica of the new primary it takes no write and, until the Repoint
    that demotes it, refuses every sync; the replicas keep every key and one of them is
    promoted."""
    keys = 200
    sut = GungnirSUT({"policy": "consistency"})
    with TestNet(sut.host_names()) as net:
        try:
            sut.start(net, Path(tempfile.mkdtemp(prefix="gungnir-fenced-")))
            n1 = sut.nodes["n1"]
            for i in range(keys):
                assert n1.command("SET", f"k{i}", "v") == b"OK"
            assert n1.command("WAIT", "2", "5000") == 2  # both replicas hold every key
            nm.RestartEmpty(nm.Targets(net, sut), "primary").start()
            samples: list[tuple[bytes, int, bool]] = []

            def demoted() -> bool:
                role = n1.command("ROLE", timeout=0.5)
                fence = _min_replicas(n1), "-sync" in _acl_commands(n1).split()
                samples.append((role[0], *fence))
                return bool(role[0] == b"slave" and n1.info()["master_link_status"] == "up")

            began = time.monotonic()
            wait_until(demoted, timeout=30, interval=0.02, what="n1 to be demoted")
            assert time.monotonic() - began < 30
            as_master = [s for s in samples if s[0] == b"master"]
            assert as_master, "n1 answered as a primary after its restart"
            # No write quorum was ever given back to the empty node.
            assert all(quorum == UNMEETABLE_REPLICAS for _, quorum, _ in as_master)
            # SYNC stayed denied; only the Repoint that demotes it gives it back, one command
            # before REPLICAOF, so the last primary sample may already show it allowed.
            assert all(denied for _, _, denied in as_master[:-1]), as_master
            primary = sut.convergence().primary
            assert primary is not None and primary != f"{n1.host}:{n1.port}"
            new = sut.nodes[sut.node_host_of(primary) or ""]
            assert new.command("DBSIZE") == keys
            assert _min_replicas(new) == sut.write_quorum
        finally:
            sut.stop()


@pytest.mark.slow
@pytest.mark.usefixtures("net_ready")
def test_replicas_reconnecting_before_any_daemon_acts_are_refused() -> None:
    """The race the start-up fence closes, made certain: every daemon is stopped (SIGSTOP)
    while the primary restarts empty, so the replicas' reconnects all come before any daemon
    could fence it. The node's own config refuses them; once the daemons run again they fail
    over to a replica that kept every key."""
    keys = 200
    sut = GungnirSUT({"policy": "consistency"})
    with TestNet(sut.host_names()) as net:
        try:
            sut.start(net, Path(tempfile.mkdtemp(prefix="gungnir-fenced-")))
            n1, n2, n3 = (sut.nodes[n] for n in ("n1", "n2", "n3"))
            for i in range(keys):
                assert n1.command("SET", f"k{i}", "v") == b"OK"
            assert n1.command("WAIT", "2", "5000") == 2
            before = {r.name: r.logfile.read_text().count("NOPERM") for r in (n2, n3)}
            daemons = list(sut.daemons.values())
            for d in daemons:
                d.kill(signal.SIGSTOP)
            try:
                n1.restart(empty=True)
                wait_until(
                    lambda: all(
                        r.logfile.read_text().count("NOPERM") >= before[r.name] + 2
                        for r in (n2, n3)
                    ),
                    timeout=15,
                    what="both replicas to be refused by the restarted node",
                )
                assert _fenced(n1) and n1.command("DBSIZE") == 0
                assert str(n1.command("SET", "x", "1")).startswith("NOREPLICAS")
                for r in (n2, n3):
                    assert r.command("DBSIZE") == keys
                    assert r.info()["master_link_status"] == "down"
            finally:
                for d in daemons:
                    d.kill(signal.SIGCONT)
            wait_until(
                lambda: sut.convergence().ok and sut.convergence().primary != f"{n1.host}:6379",
                timeout=30,
                interval=0.1,
                what="the failover away from the empty node",
            )
            primary = sut.convergence().primary
            assert primary is not None
            assert sut.nodes[sut.node_host_of(primary) or ""].command("DBSIZE") == keys
            assert n1.command("DBSIZE") == keys  # repointed, resynced from the new primary
        finally:
            sut.stop()
