"""The Valkey users the manifests set up (k8s/base/valkey-configmap.yaml) let the daemons do
their job and refuse the applications what would lift a fence or move the primary: checked
with real valkey-server processes started from the ConfigMap's own start.sh output.

Why: without them any pod that reaches port 6379 can ``CONFIG SET min-replicas-to-write 0``
(lifting the fence the daemons set), ``REPLICAOF`` a node away or wipe the data.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gungnir.core import (
    UNMEETABLE_REPLICAS,
    FailoverCommand,
    Fence,
    Promote,
    Repoint,
    SetWriteQuorum,
    Unfence,
)
from gungnir.local import wait_until
from gungnir.runtime.executor import commands_for, execute
from gungnir.runtime.prober import denies_sync, probe_commands
from gungnir.runtime.startfence import fenced_user_rules

from .valkey_pod import (
    MEMORY_LIMIT,
    PASSWORDS,
    USERS,
    DaemonAuthedNode,
    call,
    configmap,
    daemon_link,
    make_pod_files,
    pod_conf,
    start_sh,
)


@pytest.fixture(scope="module")
def pod_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pod_files(tmp_path_factory.mktemp("pod"))


@pytest.fixture
def nodes(pod_files: Path, tmp_path: Path) -> Iterator[tuple[DaemonAuthedNode, DaemonAuthedNode]]:
    made = []
    for name in ("valkey-0", "valkey-1"):
        (tmp_path / name).mkdir()
        # DEBUG enabled, unlike in the pod: the ACL alone must refuse it to applications.
        conf = [*pod_conf(pod_files), "enable-debug-command yes"]
        made.append(DaemonAuthedNode(name=name, workdir=tmp_path / name, conf_lines=conf))
    with made[0], made[1]:
        yield made[0], made[1]


def test_start_sh_writes_hashes_masterauth_and_maxmemory(pod_files: Path) -> None:
    acl = (pod_files / "run/users.acl").read_text()
    assert "@" not in acl.replace("+@", "").replace("-@", "")  # every mark replaced
    for pw in PASSWORDS.values():
        assert pw not in acl, "the ACL file holds hashes, never a password"
    runtime = (pod_files / "run/runtime.conf").read_text().splitlines()
    assert "masteruser default" in runtime
    assert f"masterauth {PASSWORDS['replication']}" in runtime
    assert f"maxmemory {MEMORY_LIMIT // 4 * 3}" in runtime
    assert "maxmemory-policy noeviction" in runtime


def test_start_sh_refuses_a_missing_password(pod_files: Path, tmp_path: Path) -> None:
    (tmp_path / "auth").mkdir()
    (tmp_path / "auth" / "daemon-password").write_text("x")
    out = start_sh(pod_files / "users.acl", tmp_path / "auth", tmp_path)
    assert out.returncode != 0 and "replication-password" in out.stderr


def test_the_replication_user_starts_fenced() -> None:
    """The start fence's ACL half: the user replicas log in as starts denied SYNC/PSYNC."""
    acl = configmap()["users.acl"].splitlines()
    default = next(ln for ln in acl if ln.startswith("user default "))
    rules = default.removeprefix("user default ")
    assert fenced_user_rules(rules) == rules
    assert f"min-replicas-to-write {UNMEETABLE_REPLICAS}" in configmap()["valkey.conf"]


def _refused(reply: Any) -> bool:
    return isinstance(reply, Exception) and str(reply).startswith(("NOPERM", "NOAUTH"))


def test_nobody_gets_in_without_a_password(nodes: tuple[DaemonAuthedNode, ...]) -> None:
    primary, _ = nodes
    for cmd in (("PING",), ("CONFIG", "SET", "min-replicas-to-write", "0"), ("FLUSHALL",)):
        assert _refused(call(primary.address, None, cmd)[0]), cmd


def test_applications_cannot_lift_a_fence_or_move_the_primary(
    nodes: tuple[DaemonAuthedNode, ...],
) -> None:
    primary, replica = nodes
    denied = [
        ("CONFIG", "SET", "min-replicas-to-write", "0"),
        ("CONFIG", "GET", "*"),
        ("REPLICAOF", "NO", "ONE"),
        ("REPLICAOF", *replica.address),
        ("FAILOVER",),
        ("ACL", "SETUSER", "app", "+@all"),
        ("ACL", "SETUSER", "default", "+sync"),
        ("CLIENT", "PAUSE", "10", "WRITE"),
        ("FLUSHALL",),
        ("FLUSHDB",),
        ("SORT", "k"),
        ("SWAPDB", "0", "1"),
        ("DEBUG", "SLEEP", "0"),
        ("SHUTDOWN", "NOSAVE"),
    ]
    replies = call(primary.address, "app", *denied)
    assert [c for c, r in zip(denied, replies, strict=True) if not _refused(r)] == []
    # What a Sentinel-aware client needs is there.
    role, info, _ = call(primary.address, "app", ("ROLE",), ("INFO", "replication"), ("GET", "k"))
    assert role[0] == b"master" and b"role:master" in info
    handshake = [
        ("CLIENT", "SETNAME", "a"),
        ("CLIENT", "SETINFO", "LIB-NAME", "x"),
        ("SELECT", "0"),
    ]
    assert call(primary.address, "app", *handshake) == [b"OK"] * 3
    # The replication user has the handshake only.
    replies = call(primary.address, "replication", ("GET", "k"), ("CONFIG", "GET", "port"))
    assert all(_refused(r) for r in replies)
    assert primary.is_running()


def test_the_daemon_user_runs_a_failover(nodes: tuple[DaemonAuthedNode, ...]) -> None:
    """Probe, lift the start fence, repoint, fence no_sync, promote: all as the gungnir user;
    replicas sync as the replication user; applications write once the fence is lifted."""
    primary, replica = nodes
    names = {primary.address: "valkey-0", replica.address: "valkey-1"}
    addresses = {"valkey-0": primary.address, "valkey-1": replica.address}
    assert str(call(primary.address, "app", ("SET", "k", "v"))[0]).startswith("NOREPLICAS")

    async def act(node: DaemonAuthedNode, action: Any) -> None:
        link = daemon_link(node, names)
        try:
            probe = await link.probe(limit=2.0)
            assert probe.reachable and probe.settings_ok, link.last_error
            result = await execute(action, link, addresses, limit=2.0, pause_ms=1000)
            assert result.ok, result.reason
        finally:
            link.close()

    def link_up() -> bool:
        return replica.info().get("master_link_status") == "up"

    asyncio.run(act(primary, SetWriteQuorum("valkey-0", 1, 1, 2)))
    asyncio.run(act(replica, Repoint("valkey-1", "valkey-0", 1)))
    wait_until(link_up, timeout=10, what="the replica to sync as the replication user")
    assert call(primary.address, "app", ("SET", "k", "v"), ("WAIT", "1", "2000")) == [b"OK", 1]
    asyncio.run(act(primary, Fence("valkey-0", 2, method="no_sync")))
    assert denies_sync(call(primary.address, "daemon", ("ACL", "GETUSER", "default"))[0])
    assert str(call(primary.address, "app", ("SET", "k", "w"))[0]).startswith("NOREPLICAS")
    asyncio.run(act(replica, Promote("valkey-1", 2)))
    asyncio.run(act(replica, SetWriteQuorum("valkey-1", 2, 0, 10)))
    assert call(replica.address, "app", ("SET", "k", "w")) == [b"OK"]
    assert replica.info().get("role") == "master"
    # The old primary follows the new one, then a switchover hands the role back (FAILOVER:
    # the primary logs in to its target as the replication user).
    asyncio.run(act(primary, Repoint("valkey-0", "valkey-1", 3)))
    wait_until(
        lambda: primary.info().get("master_link_status") == "up",
        timeout=10,
        what="the old primary to sync from the new one",
    )
    asyncio.run(act(replica, FailoverCommand("valkey-1", "valkey-0", 4, 5000)))
    assert primary.info().get("role") == "master" and replica.info().get("role") == "slave"


def test_a_pod_node_refuses_syncs_until_a_daemon_lifts_the_fence(
    nodes: tuple[DaemonAuthedNode, ...],
) -> None:
    """The start fence, with the pod's users: a replica logging in as the replication user is
    refused PSYNC (twice, so a retry is refused too) until the daemon's SetWriteQuorum."""
    primary, replica = nodes
    assert primary.command("CONFIG", "GET", "min-replicas-to-write") == [
        b"min-replicas-to-write",
        str(UNMEETABLE_REPLICAS).encode(),
    ]
    assert denies_sync(primary.command("ACL", "GETUSER", "default"))
    replica.replicaof(primary)
    wait_until(
        lambda: replica.logfile.read_text(errors="replace").count("NOPERM") >= 2,
        timeout=10,
        what="the replica to be refused a sync twice",
    )
    assert replica.info().get("master_link_status") == "down"

    async def lift() -> bool:
        link = daemon_link(primary, {primary.address: "valkey-0"})
        try:
            action = SetWriteQuorum("valkey-0", 1, 1, 2)
            result = await execute(
                action, link, {"valkey-0": primary.address}, limit=2.0, pause_ms=1000
            )
        finally:
            link.close()
        return result.ok

    assert asyncio.run(lift())
    assert not denies_sync(primary.command("ACL", "GETUSER", "default"))
    wait_until(
        lambda: replica.info().get("master_link_status") == "up",
        timeout=10,
        what="the replica to sync",
    )
    assert call(primary.address, "app", ("SET", "k", "v"), ("WAIT", "1", "2000")) == [b"OK", 1]


def test_the_daemon_user_grants_exactly_what_the_runtime_sends() -> None:
    """A command added to the prober or executor without a grant here would fail with NOPERM
    in every Kubernetes deployment; a grant nothing sends is privilege for nothing."""
    container = {"CONFIG", "ACL", "CLIENT"}

    def acl_name(cmd: tuple[Any, ...]) -> str:
        words = [str(w).lower() for w in cmd[:2]]
        return "|".join(words) if words[0].upper() in container else words[0]

    addresses = {"a": ("10.0.0.1", 6379), "b": ("10.0.0.2", 6379)}
    actions = [
        Fence("a", 1, method="min_replicas"),
        Fence("a", 1, method="pause"),
        Fence("a", 1, method="no_sync"),
        Unfence("a", 1, 1),
        SetWriteQuorum("a", 1, 1, 10),
        Promote("a", 1),
        Repoint("a", "b", 1),
        FailoverCommand("a", "b", 1, 1000),
    ]
    sent = {acl_name(c) for c in probe_commands(USERS["daemon"])}
    for action in actions:
        sent |= {acl_name(c) for c in commands_for(action, addresses, 1000, USERS["daemon"])}
    # Giving SYNC/PSYNC back (ACL GETUSER, SETUSER), the connection's HELLO/AUTH/SETNAME, and
    # FAILOVER's wait for the outcome (INFO) are sent outside commands_for.
    sent |= {"acl|getuser", "acl|setuser", "hello", "auth", "client|setname", "info"}
    line = next(
        ln for ln in configmap()["users.acl"].splitlines() if ln.startswith("user gungnir ")
    )
    granted = {w[1:] for w in line.split() if w.startswith("+")}
    assert granted - {"ping"} == sent  # PING: the client's health check
