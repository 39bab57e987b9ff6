"""The Sentinel endpoint against real parts.

* redis-py's and valkey-py's ``Sentinel`` classes, RESP2 and RESP3, discover, read and write
  through our endpoint to a real local Valkey group;
* the same raw requests go to our endpoint and to a real ``valkey-server --sentinel``
  watching the same group, and the replies are compared shape by shape (and byte by byte
  where Sentinel's reply is deterministic);
* a switch of the primary (REPLICAOF on the real nodes, the view updated, +switch-master
  published) is followed by a client and seen by a subscriber;
* a real Sentinel failover is recorded and every event we render for the same transition
  must equal what Sentinel published.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import valkey
from redis.sentinel import MasterNotFoundError
from redis.sentinel import Sentinel as RedisSentinel
from valkey.sentinel import Sentinel as ValkeySentinel

import gungnir
from gungnir.local import LocalGroup, start_group, wait_until
from gungnir.resp import error_from_message, pack_command
from gungnir.runtime.sentinel import (
    FailoverRefusedError,
    PrimaryState,
    QuorumCheck,
    ReplicaState,
    SentinelPeerState,
)

from .sentinel_support import MYID, Endpoint, GroupView, RawClient, as_dict, real_sentinels, shape

GROUP = "cache"

SENTINEL_CLASSES = {"redis-py": RedisSentinel, "valkey-py": ValkeySentinel}
READONLY = (redis.ReadOnlyError, valkey.ReadOnlyError)
TRANSIENT = (redis.TimeoutError, redis.ResponseError, valkey.TimeoutError, valkey.ResponseError)
RETRYABLE = (
    redis.ConnectionError,
    redis.ReadOnlyError,
    valkey.ConnectionError,
    valkey.ReadOnlyError,
)


@pytest.fixture
def endpoint(valkey_group: LocalGroup) -> Iterator[Endpoint]:
    view = GroupView.of(GROUP, valkey_group)
    with Endpoint(view) as ep:
        yield ep


def addr(node: Any) -> tuple[str, int]:
    return (node.host, node.port)


# -- clients -----------------------------------------------------------------------------


VALKEY_PY_RESP3_BUG = pytest.mark.xfail(
    strict=True,
    raises=KeyError,
    reason="valkey-py 6.x parses RESP3 SENTINEL MASTERS maps as flat pairs (KeyError 'flags'); "
    "it fails the same way against a real Sentinel (checked in test_replies_match_a_real_sentinel)",
)


@pytest.mark.parametrize(
    ("library", "protocol"),
    [
        ("redis-py", 2),
        ("redis-py", 3),
        ("valkey-py", 2),
        pytest.param("valkey-py", 3, marks=VALKEY_PY_RESP3_BUG),
    ],
)
def test_sentinel_clients_discover_read_and_write(
    endpoint: Endpoint, valkey_group: LocalGroup, library: str, protocol: int
) -> None:
    cls = SENTINEL_CLASSES[library]
    sentinel = cls(
        [("127.0.0.1", endpoint.port)],
        sentinel_kwargs={"protocol": protocol, "socket_timeout": 5},
        socket_timeout=5,
        protocol=protocol,
    )
    assert sentinel.discover_master(GROUP) == addr(valkey_group.primary)
    assert sorted(sentinel.discover_slaves(GROUP)) == sorted(addr(r) for r in valkey_group.replicas)
    key = f"k-{library}-{protocol}"
    primary = sentinel.master_for(GROUP)
    assert primary.set(key, "v1") is True
    assert valkey_group.primary.command("GET", key) == b"v1"
    replica = sentinel.slave_for(GROUP)
    assert wait_until(lambda: replica.get(key) == b"v1", timeout=10, what="replica read")
    with pytest.raises(READONLY):
        replica.set(key, "nope")
    with pytest.raises(Exception, match="No such master with that name"):
        sentinel.sentinels[0].sentinel_master("unknown")
    primary.close()
    replica.close()


@pytest.mark.parametrize("protocol", [2, 3])
def test_sentinel_password(valkey_group: LocalGroup, protocol: int) -> None:
    """Clients may authenticate to sentinels (``sentinel_kwargs={"password": ...}``)."""
    with Endpoint(GroupView.of(GROUP, valkey_group), password="s3cret") as ep:
        good = RedisSentinel(
            [("127.0.0.1", ep.port)],
            sentinel_kwargs={"password": "s3cret", "protocol": protocol, "socket_timeout": 5},
        )
        assert good.discover_master(GROUP) == addr(valkey_group.primary)
        bad = RedisSentinel(
            [("127.0.0.1", ep.port)],
            sentinel_kwargs={"password": "wrong", "protocol": protocol, "socket_timeout": 5},
        )
        with pytest.raises(MasterNotFoundError):
            bad.discover_master(GROUP)
        anonymous = RawClient(ep.port)
        assert anonymous.raw("SENTINEL", "MASTERS") == b"-NOAUTH Authentication required.\r\n"
        assert anonymous.call("AUTH", "s3cret") == b"OK"
        assert len(anonymous.call("SENTINEL", "MASTERS")) == 1
        anonymous.close()


def test_manual_failover_calls_the_hook_and_refuses_like_sentinel(
    endpoint: Endpoint,
) -> None:
    view = endpoint.view
    assert isinstance(view, GroupView)
    c = RawClient(endpoint.port)
    assert c.call("SENTINEL", "FAILOVER", GROUP) == b"OK"
    assert view.failover_requests == [GROUP]
    assert c.call("SENTINEL", "FAILOVER", "nope") == error_from_message(
        "ERR No such master with that name"
    )

    def refuse(group: str) -> None:
        raise FailoverRefusedError("NOGOODSLAVE", "No suitable replica to promote")

    view.failover_hook = refuse
    assert (
        c.raw("SENTINEL", "FAILOVER", GROUP) == b"-NOGOODSLAVE No suitable replica to promote\r\n"
    )

    async def started(group: str) -> None:
        view.failover_requests.append("async:" + group)

    view.failover_hook = lambda g: started(g)
    assert c.call("SENTINEL", "FAILOVER", GROUP) == b"OK"
    assert view.failover_requests[-1] == "async:" + GROUP
    view.flags = frozenset({"failover_in_progress"})
    view.refresh()
    assert c.raw("SENTINEL", "FAILOVER", GROUP) == b"-INPROG Failover already in progress\r\n"
    master = as_dict(c.call("SENTINEL", "MASTER", GROUP))
    assert master[b"flags"] == b"master,failover_in_progress"
    assert master[b"failover-state"] == b"unknown"
    c.close()


def test_ckquorum_counts_daemons(endpoint: Endpoint) -> None:
    view = endpoint.view
    assert isinstance(view, GroupView)
    c = RawClient(endpoint.port)
    # Alone with quorum 2: neither the quorum nor the majority (1 of 1 is a majority).
    assert c.raw("SENTINEL", "CKQUORUM", GROUP) == (
        b"-NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the specified "
        b"quorum for this master\r\n"
    )
    peer = SentinelPeerState(host="127.0.0.1", port=1, run_id="a" * 40)
    down = SentinelPeerState(host="127.0.0.1", port=2, run_id="b" * 40, flags=frozenset({"s_down"}))
    view.peers = [peer, down, down]
    assert c.raw("SENTINEL", "CKQUORUM", GROUP) == (
        b"-NOQUORUM 2 usable Sentinels. Not enough available Sentinels to reach the majority "
        b"and authorize a failover\r\n"
    )
    view.peers = [peer, peer, down]
    assert c.raw("SENTINEL", "CKQUORUM", GROUP) == (
        b"+OK 3 usable Sentinels. Quorum and failover authorization can be reached\r\n"
    )
    # The daemon may override the count with its fixed voter set.
    view.quorum_check = lambda group: QuorumCheck(usable=1, quorum=2, voters=5)  # type: ignore[method-assign]
    assert c.call("SENTINEL", "CKQUORUM", GROUP).message.startswith(
        "NOQUORUM 1 usable Sentinels. Not enough available Sentinels to reach the specified "
        "quorum for this master. Not enough available Sentinels to reach the majority"
    )
    c.close()


def test_unsupported_and_unknown_commands_keep_the_connection(endpoint: Endpoint) -> None:
    c = RawClient(endpoint.port)
    for args in (
        ("SENTINEL", "MONITOR", "x", "127.0.0.1", "6379", "2"),
        ("SENTINEL", "SET", GROUP, "quorum", "1"),
        ("SENTINEL", "RESET", "*"),
        ("SENTINEL", "CONFIG", "SET", "loglevel", "debug"),
    ):
        reply = c.call(*args)
        assert reply.message.startswith("ERR SENTINEL "), args
        assert "not supported" in reply.message
    assert c.call("PUBLISH", "ch", "x").message == (
        "ERR Only HELLO messages are accepted by Sentinel instances."
    )
    assert c.call("GET", "x").message.startswith("ERR unknown command 'GET'")
    assert c.call("SENTINEL", "MASTERS") and c.call("PING") == b"PONG"
    c.close()


def test_garbage_gets_an_error_and_the_endpoint_keeps_serving(endpoint: Endpoint) -> None:
    c = RawClient(endpoint.port)
    c.sock.sendall(b"*1\r\n$8\r\nsentinel\r\n*2\r\n$1\r\n")
    c.sock.sendall(b"x\r\n:5\r\n")  # an integer where a bulk string must be
    data = b""
    while chunk := c.sock.recv(65536):
        data += chunk
    assert data.startswith(b"-ERR wrong number of arguments for 'sentinel' command\r\n")
    assert data.endswith(b"\r\n") and b"-ERR Protocol error" in data
    c.close()
    fresh = RawClient(endpoint.port)
    assert (
        fresh.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", GROUP)[1]
        == str(
            endpoint.view.primary(GROUP).port  # type: ignore[union-attr]
        ).encode()
    )
    fresh.close()


# -- a switch of the primary ----------------------------------------------------------------


@pytest.mark.parametrize("library", sorted(SENTINEL_CLASSES))
def test_clients_follow_a_switch_and_subscribers_see_it(
    endpoint: Endpoint, valkey_group: LocalGroup, library: str
) -> None:
    view = endpoint.view
    assert isinstance(view, GroupView)
    cls = SENTINEL_CLASSES[library]
    sentinel = cls([("127.0.0.1", endpoint.port)], sentinel_kwargs={"socket_timeout": 5})
    watcher = redis.Redis(port=endpoint.port, socket_timeout=5)
    pubsub = watcher.pubsub()
    pubsub.psubscribe("*")
    assert pubsub.get_message(timeout=5)["type"] == "psubscribe"
    writer = sentinel.master_for(GROUP, socket_timeout=5)
    assert writer.set("before", "1") is True

    old = valkey_group.primary
    new, other = valkey_group.replicas
    new.replicaof(None)
    old.replicaof(new)
    other.replicaof(new)
    for node in (old, other):
        wait_until(
            lambda n=node: n.info().get("master_link_status") == "up",
            timeout=15,
            what="replica to sync with the new primary",
        )
    view.set_topology(new, [old, other])
    delivered = endpoint.run(
        lambda: endpoint.service.emit_switch_master(GROUP, addr(old), addr(new))
    )
    assert delivered == 1

    message = pubsub.get_message(timeout=5)
    assert message is not None and message["type"] == "pmessage"
    assert message["channel"] == b"+switch-master"
    expected = f"{GROUP} {old.host} {old.port} {new.host} {new.port}"
    assert message["data"] == expected.encode()

    assert sentinel.discover_master(GROUP) == addr(new)
    deadline = time.monotonic() + 15

    def write_after() -> bool:
        try:
            return bool(writer.set("after", "2"))
        except RETRYABLE:  # the pooled connection still pointed at the old primary
            assert time.monotonic() < deadline
            return False

    wait_until(write_after, timeout=15, what="write to the new primary")
    assert new.command("GET", "after") == b"2"
    assert new.command("GET", "before") == b"1"  # it came along through replication
    pubsub.close()
    watcher.close()
    writer.close()


# -- side by side with a real Sentinel ------------------------------------------------------


@pytest.fixture(scope="module")
def twin() -> Iterator[tuple[Endpoint, Any, LocalGroup]]:
    """A group watched by two real Sentinels, and our endpoint describing the same group with
    the second Sentinel as its peer, so the first Sentinel and we should answer alike."""
    with (
        start_group(replicas=2) as group,
        real_sentinels(GROUP, group.primary, count=2, quorum=2) as (real, _other),
    ):

        def settled() -> Any:
            replicas = real.call("SENTINEL", "REPLICAS", GROUP)
            sentinels = real.call("SENTINEL", "SENTINELS", GROUP)
            linked = all(
                as_dict(r)[b"flags"] in (b"slave", b"sentinel") for r in replicas + sentinels
            )
            return len(replicas) == 2 and len(sentinels) == 1 and linked and sentinels

        (peer_record,) = wait_until(settled, timeout=30, what="sentinels to discover the group")
        peer = as_dict(peer_record)
        view = GroupView.of(
            GROUP,
            group,
            quorum=2,
            peers=[
                SentinelPeerState(
                    host=peer[b"ip"].decode(),
                    port=int(peer[b"port"]),
                    run_id=peer[b"runid"].decode(),
                )
            ],
        )
        with Endpoint(view) as ep:
            yield ep, real, group


STABLE_MASTER_FIELDS = [
    b"name",
    b"ip",
    b"port",
    b"runid",
    b"flags",
    b"role-reported",
    b"config-epoch",
    b"num-slaves",
    b"num-other-sentinels",
    b"quorum",
]
STABLE_REPLICA_FIELDS = [
    b"name",
    b"ip",
    b"port",
    b"runid",
    b"flags",
    b"role-reported",
    b"master-link-status",
    b"master-host",
    b"master-port",
    b"slave-priority",
    b"replica-announced",
]
STABLE_SENTINEL_FIELDS = [b"name", b"ip", b"port", b"runid", b"flags"]


@pytest.mark.slow
@pytest.mark.parametrize("protocol", [2, 3])
def test_replies_match_a_real_sentinel(twin: Any, protocol: int) -> None:
    ep, real, group = twin
    ours, theirs = RawClient(ep.port, protocol), RawClient(real.port, protocol)

    def both(*args: Any) -> tuple[Any, Any]:
        return ours.call(*args), theirs.call(*args)

    def both_raw(*args: Any) -> tuple[bytes, bytes]:
        return ours.raw(*args), theirs.raw(*args)

    # Deterministic replies: identical bytes.
    for args in [
        ("SENTINEL", "GET-MASTER-ADDR-BY-NAME", GROUP),
        ("SENTINEL", "get-primary-addr-by-name", GROUP),
        ("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "nope"),
        ("SENTINEL", "MASTER", "nope"),
        ("SENTINEL", "REPLICAS", "nope"),
        ("SENTINEL", "SENTINELS", "nope"),
        ("SENTINEL", "FAILOVER", "nope"),
        ("SENTINEL", "CKQUORUM", "nope"),
        ("SENTINEL", "CKQUORUM", GROUP),
        ("SENTINEL", "MASTER"),
        ("SENTINEL", "MASTERS", "extra"),
        ("SENTINEL",),
        ("SENTINEL", "BOGUS"),
        ("SENTINEL", "CONFIG", "GET", "*"),
        ("SENTINEL", "CONFIG", "GET", "announce-*", "loglevel", "nomatch"),
        ("SENTINEL", "CONFIG", "WHAT", "x"),
        ("SENTINEL", "PENDING-SCRIPTS"),
        ("ROLE",),
        ("PING",),
        ("PING", "hello"),
        ("FOO", "a", "b"),
        ("GET", "k"),
        ("CLIENT", "SETNAME", "gungnir-test"),
        ("CLIENT", "GETNAME"),
        ("CLIENT", "SETNAME", "bad name"),
        ("PUBLISH", "ch", "x"),
    ]:
        mine, real_reply = both_raw(*args)
        assert mine == real_reply, args

    # Records: same keys in the same order, same value types, same stable values.
    for args, stable in [
        (("SENTINEL", "MASTERS"), STABLE_MASTER_FIELDS),
        (("SENTINEL", "PRIMARIES"), STABLE_MASTER_FIELDS),
        (("SENTINEL", "REPLICAS", GROUP), STABLE_REPLICA_FIELDS),
        (("SENTINEL", "SLAVES", GROUP), STABLE_REPLICA_FIELDS),
        (("SENTINEL", "SENTINELS", GROUP), STABLE_SENTINEL_FIELDS),
    ]:
        mine, real_reply = both(*args)
        assert isinstance(mine, list) and len(mine) == len(real_reply), args
        key = lambda rec: as_dict(rec)[b"name"]  # noqa: E731
        for a, b in zip(sorted(mine, key=key), sorted(real_reply, key=key), strict=True):
            assert shape(a) == shape(b), args
            da, db = as_dict(a), as_dict(b)
            assert [da[k] for k in stable] == [db[k] for k in stable], args
    mine, real_reply = both("SENTINEL", "MASTER", GROUP)
    assert shape(mine) == shape(real_reply)
    assert as_dict(mine)[b"runid"] == group.primary.info("server")["run_id"].encode()

    myid_ours, myid_real = both("SENTINEL", "MYID")
    assert myid_ours == MYID.encode() and re.fullmatch(rb"[0-9a-f]{40}", myid_real)

    # HELLO: the same fields (values of server/version/id differ by design), then
    # gungnir's own version in a field of its own.
    mine, real_reply = both("HELLO", str(protocol))
    assert list(as_dict(mine)) == [*as_dict(real_reply), b"gungnir_version"]
    assert as_dict(mine)[b"mode"] == as_dict(real_reply)[b"mode"] == b"sentinel"
    hello_version = as_dict(mine)[b"version"].decode()

    # INFO: the sentinel section clients parse has the same keys and values.
    def sentinel_section(text: bytes) -> dict[str, str]:
        section = text.decode().split("# Sentinel\r\n", 1)[1].split("\r\n\r\n", 1)[0]
        return dict(line.split(":", 1) for line in section.strip().split("\r\n"))

    mine, real_reply = both("INFO", "sentinel")
    assert sentinel_section(mine) == sentinel_section(real_reply)
    mine, real_reply = both("INFO")
    assert sentinel_section(mine) == sentinel_section(real_reply)
    for key in ("redis_version", "redis_mode", "run_id", "tcp_port"):
        assert f"\r\n{key}:".encode() in mine, key
    # Clients gate commands on HELLO's version (coredis) or INFO's: the two agree, as
    # Valkey's do, and gungnir's own version is a field of its own.
    ours_info = dict(line.split(":", 1) for line in mine.decode().split("\r\n") if ":" in line)
    real_info = dict(
        line.split(":", 1) for line in real_reply.decode().split("\r\n") if ":" in line
    )
    assert ours_info["redis_version"] == hello_version == real_info["redis_version"]
    assert ours_info["server_mode"] == real_info["server_mode"] == "sentinel"
    assert ours_info["gungnir_version"] == gungnir.__version__

    # Pub/sub confirmations and the subscribed-mode PING.
    for args in [("SUBSCRIBE", "+switch-master", "+sdown"), ("PSUBSCRIBE", "+failover-*")]:
        ours.sock.sendall(pack_command(*args))
        theirs.sock.sendall(pack_command(*args))
        mine_list, real_list = ours.replies(len(args) - 1), theirs.replies(len(args) - 1)
        assert mine_list == real_list, args
        assert [type(x) for x in mine_list] == [type(x) for x in real_list]
    mine, real_reply = both_raw("PING")
    assert mine == real_reply
    for args in [("UNSUBSCRIBE",), ("PUNSUBSCRIBE",)]:
        ours.sock.sendall(pack_command(*args))
        theirs.sock.sendall(pack_command(*args))
        count = 2 if args == ("UNSUBSCRIBE",) else 1
        mine_list, real_list = ours.replies(count), theirs.replies(count)
        # Valkey walks its channel table in hash order: compare channels as a set.
        assert sorted(x[1] for x in mine_list) == sorted(x[1] for x in real_list)
        assert [(x[0], x[2]) for x in mine_list] == [(x[0], x[2]) for x in real_list]
    ours.close()
    theirs.close()

    # valkey-py's RESP3 Sentinel parsing bug hits a real Sentinel exactly as it hits us.
    for port in (ep.port, real.port):
        broken = ValkeySentinel([("127.0.0.1", port)], sentinel_kwargs={"protocol": 3})
        with pytest.raises(KeyError, match="flags"):
            broken.discover_master(GROUP)


def _convert_to_slave_addresses(payload: str) -> tuple[tuple[str, int], tuple[str, int]]:
    """Split Sentinel's `slave <name> <ip> <port> @ <group> <ip> <port>` payload into the
    converted node's address and the primary it was pointed at."""
    fields = payload.split()
    assert fields[0] == "slave" and fields[4] == "@", payload
    return (fields[2], int(fields[3])), (fields[6], int(fields[7]))


@pytest.mark.slow
def test_events_match_a_real_sentinel_failover() -> None:
    """Let a real Sentinel fail a group over, record what it publishes, then render the
    same transition through our endpoint: every payload must be identical."""
    with (
        start_group(replicas=2) as group,
        real_sentinels(
            GROUP,
            group.primary,
            count=1,
            quorum=1,
            down_after_milliseconds=1000,
            failover_timeout=10000,
        ) as (real,),
    ):
        wait_until(
            lambda: len(real.call("SENTINEL", "REPLICAS", GROUP)) == 2,
            timeout=30,
            what="sentinel to discover the replicas",
        )
        old = group.primary
        view = GroupView.of(GROUP, group, quorum=1)
        old_primary = view.primary(GROUP)
        assert old_primary is not None
        recorder = redis.Redis(port=real.port, socket_timeout=5).pubsub()
        recorder.psubscribe("*")
        assert recorder.get_message(timeout=5)["type"] == "psubscribe"
        seen: dict[str, list[str]] = {}

        def record_until(event: str, timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while event not in seen:
                assert time.monotonic() < deadline, f"no {event} in {sorted(seen)}"
                msg = recorder.get_message(timeout=1)
                if msg and msg["type"] == "pmessage":
                    seen.setdefault(msg["channel"].decode(), []).append(msg["data"].decode())

        old.kill()
        record_until("+switch-master", 60)
        _, new_port = real.call("SENTINEL", "GET-MASTER-ADDR-BY-NAME", GROUP)
        new = next(r for r in group.replicas if r.port == int(new_port))
        old.restart()  # comes back as a primary; Sentinel converts it to a replica
        record_until("+convert-to-slave", 40)
        recorder.close()
        # On a loaded machine Sentinel may fail over a second time before it converts the old
        # primary; render the conversion it actually announced first, whichever it was.
        converted_addr, primary_addr = _convert_to_slave_addresses(seen["+convert-to-slave"][0])
        converted = next(n for n in group.nodes if (n.host, n.port) == converted_addr)
        converted_to = next(n for n in group.nodes if (n.host, n.port) == primary_addr)

        # Our rendering of the same transition, received by a real subscriber.
        with Endpoint(view) as ep:
            sub = redis.Redis(port=ep.port, socket_timeout=5).pubsub()
            sub.psubscribe("*")
            assert sub.get_message(timeout=5)["type"] == "psubscribe"
            svc = ep.service
            promoted = ReplicaState(host=new.host, port=new.port)
            returning = ReplicaState(host=converted.host, port=converted.port)
            new_primary = PrimaryState(
                group=GROUP, host=converted_to.host, port=converted_to.port, quorum=1
            )

            def before() -> None:
                svc.emit("+sdown", GROUP)
                svc.emit_odown(GROUP, votes=1, quorum=1)
                svc.emit_new_epoch(1)
                svc.emit("+try-failover", GROUP)
                svc.emit("+elected-leader", GROUP)
                svc.emit("+promoted-slave", GROUP, promoted, primary=old_primary)
                svc.emit("+failover-end", GROUP)
                svc.emit_switch_master(GROUP, (old.host, old.port), (new.host, new.port))

            def after() -> None:
                svc.emit("+convert-to-slave", GROUP, returning, primary=new_primary)

            ep.run(before)
            view.set_topology(converted_to, [r for r in group.nodes if r is not converted_to])
            ep.run(after)
            rendered: dict[str, str] = {}
            while len(rendered) < 9:
                msg = sub.get_message(timeout=5)
                assert msg is not None, f"only got {sorted(rendered)}"
                if msg["type"] == "pmessage":
                    rendered[msg["channel"].decode()] = msg["data"].decode()
            sub.close()

        assert rendered["+switch-master"] == seen["+switch-master"][0]
        for event in (
            "+sdown",
            "+odown",
            "+new-epoch",
            "+try-failover",
            "+elected-leader",
            "+promoted-slave",
            "+failover-end",
            "+convert-to-slave",
        ):
            assert rendered[event] in seen.get(event, []), (event, rendered[event], seen.get(event))


@pytest.mark.slow
def test_down_and_recovery_events_match_a_real_sentinel() -> None:
    """+sdown/-sdown of a replica, and +sdown/+odown/-odown/-sdown of a primary that comes
    back before anyone could replace it (no promotable replica), from a real Sentinel and
    from us."""
    with (
        start_group(replicas=2) as group,
        real_sentinels(GROUP, group.primary, count=1, quorum=1, down_after_milliseconds=500) as (
            real,
        ),
    ):
        for replica in group.replicas:
            assert replica.command("CONFIG", "SET", "replica-priority", "0") == b"OK"
        wait_until(
            lambda: len(real.call("SENTINEL", "REPLICAS", GROUP)) == 2,
            timeout=30,
            what="sentinel to discover the replicas",
        )
        view = GroupView.of(GROUP, group, quorum=1)
        recorder = redis.Redis(port=real.port, socket_timeout=5).pubsub()
        recorder.psubscribe("*down")
        assert recorder.get_message(timeout=5)["type"] == "psubscribe"
        seen: list[tuple[str, str]] = []

        def record_until(event: str, timeout: float) -> None:
            deadline = time.monotonic() + timeout
            while not any(name == event for name, _ in seen):
                assert time.monotonic() < deadline, f"no {event} in {seen}"
                msg = recorder.get_message(timeout=1)
                if msg and msg["type"] == "pmessage":
                    seen.append((msg["channel"].decode(), msg["data"].decode()))

        replica = group.replicas[0]
        replica_record = view.replica_record(replica)
        replica.kill()
        record_until("+sdown", 20)
        replica.restart()
        record_until("-sdown", 20)
        seen_replica = list(seen)
        seen.clear()
        group.primary.kill()
        record_until("+odown", 20)
        group.primary.restart()
        record_until("-odown", 20)
        record_until("-sdown", 20)
        recorder.close()

        with Endpoint(view) as ep:
            sub = redis.Redis(port=ep.port, socket_timeout=5).pubsub()
            sub.psubscribe("*down")
            assert sub.get_message(timeout=5)["type"] == "psubscribe"
            svc = ep.service

            def render() -> None:
                svc.emit("+sdown", GROUP, replica_record)
                svc.emit("-sdown", GROUP, (replica.host, replica.port))  # address form
                svc.emit("+sdown", GROUP)
                svc.emit_odown(GROUP, votes=1, quorum=1)
                svc.emit("-sdown", GROUP)
                svc.emit("-odown", GROUP)

            ep.run(render)
            rendered = []
            while len(rendered) < 6:
                msg = sub.get_message(timeout=5)
                assert msg is not None, f"only got {rendered}"
                if msg["type"] == "pmessage":
                    rendered.append((msg["channel"].decode(), msg["data"].decode()))
            sub.close()

        assert rendered[:2] == seen_replica
        for event in rendered[2:]:
            assert event in seen, (event, seen)


@pytest.mark.slow
@pytest.mark.parametrize("library", sorted(SENTINEL_CLASSES))
def test_writer_follows_a_failover_driven_by_gungnir_daemons(tmp_path: Any, library: str) -> None:
    """The end-to-end promise: an application using redis-py's (or valkey-py's) Sentinel
    class, pointed at
    three gungnir daemons, keeps writing through a SIGKILL of the primary; its writes land on
    the primary the daemons elect, and a subscriber sees Sentinel's +switch-master."""
    import asyncio
    import signal
    import threading

    import redis.asyncio

    from gungnir.runtime.cluster import InProcessCluster, cluster_docs

    async def main() -> None:
        with start_group(replicas=2) as group:
            nodes = {n.name: (n.host, n.port) for n in group.nodes}
            docs = cluster_docs(nodes, tmp_path, group=GROUP)
            async with InProcessCluster(docs) as cluster:
                endpoints = [("127.0.0.1", d.port) for d in cluster.daemons.values()]

                async def agreed(expected: set[Any]) -> None:
                    deadline = time.monotonic() + 20
                    while cluster.primaries() != expected:
                        assert time.monotonic() < deadline, cluster.primaries()
                        await asyncio.sleep(0.02)

                await agreed({"node-0"})
                first = next(iter(cluster.daemons.values()))
                watcher = redis.asyncio.Redis(port=first.port)
                sub = watcher.pubsub()
                await sub.psubscribe("+switch-master")

                acked: list[tuple[int, float]] = []
                stop = threading.Event()

                def writer() -> None:
                    cls = SENTINEL_CLASSES[library]
                    sentinel = cls(endpoints, sentinel_kwargs={"socket_timeout": 1})
                    primary = sentinel.master_for(GROUP, socket_timeout=1)
                    deadline = time.monotonic() + 60
                    for i in range(100_000):
                        if stop.is_set() or time.monotonic() > deadline:
                            break
                        try:
                            if primary.set(f"w{i}", i):
                                acked.append((i, time.monotonic()))
                        except (*RETRYABLE, *TRANSIENT):
                            time.sleep(0.02)  # client back-off between attempts
                    primary.close()

                task = asyncio.create_task(asyncio.to_thread(writer))
                deadline = time.monotonic() + 10
                while len(acked) < 50:
                    assert time.monotonic() < deadline and not task.done()
                    await asyncio.sleep(0.02)
                group.primary.kill(signal.SIGKILL)
                killed_at = time.monotonic()
                deadline = time.monotonic() + 30
                while not (len(cluster.primaries()) == 1 and "node-0" not in cluster.primaries()):
                    assert time.monotonic() < deadline, cluster.primaries()
                    await asyncio.sleep(0.02)
                (new_name,) = cluster.primaries()
                new = next(n for n in group.nodes if n.name == new_name)
                deadline = time.monotonic() + 30
                while sum(1 for _, t in acked if t > killed_at) < 50:
                    assert time.monotonic() < deadline and not task.done(), len(acked)
                    await asyncio.sleep(0.02)
                stop.set()
                await task

                message = None
                deadline = time.monotonic() + 10
                while message is None or message["type"] != "pmessage":
                    assert time.monotonic() < deadline
                    message = await sub.get_message(timeout=1)
                old = group.primary
                assert message["data"] == (
                    f"{GROUP} {old.host} {old.port} {new.host} {new.port}".encode()
                )
                await sub.aclose()
                await watcher.aclose()

                after = [i for i, t in acked if t > killed_at]
                values = new.command("MGET", *[f"w{i}" for i in after])
                assert values == [str(i).encode() for i in after]
                for host, port in endpoints:  # blocking clients off the daemons' loop
                    one = RedisSentinel([(host, port)], sentinel_kwargs={"socket_timeout": 5})
                    discovered = await asyncio.to_thread(one.discover_master, GROUP)
                    assert discovered == (new.host, new.port)

    asyncio.run(main())


def test_odown_end_names_the_node_that_went_down() -> None:
    """The core ends odown on the tick after a failover, naming that tick's primary (the
    new one); the text log, Kubernetes Events and subscribers must hear the old one."""
    from types import SimpleNamespace

    from gungnir.core import Notify
    from gungnir.runtime.sentinel_events import name_subject

    rt: Any = SimpleNamespace(odown_node=None)
    assert name_subject(rt, Notify("+odown", "node0")) == Notify("+odown", "node0")
    assert name_subject(rt, Notify("-odown", "node1")) == Notify("-odown", "node0")
    assert rt.odown_node is None
    # An odown that ends on the same primary is left as it is.
    name_subject(rt, Notify("+odown", "node1"))
    assert name_subject(rt, Notify("-odown", "node1")) == Notify("-odown", "node1")
