"""Every typed helper against a real server, and the INFO / ROLE parsers."""

from __future__ import annotations

import asyncio
import signal

import pytest

from gungnir.client import (
    CommandTimeoutError,
    ReplicaLink,
    ReplyError,
    Role,
    connect,
    parse_info,
    parse_role,
)

from .stub import until


def test_parse_info_types_and_records():
    text = (
        "# Server\r\nredis_version:7.2.4\r\nuptime_in_seconds:42\r\n"
        "executable:/usr/bin/valkey-server\r\n\r\n# Replication\r\nrole:master\r\n"
        "connected_slaves:1\r\nslave0:ip=10.0.0.2,port=6380,state=online,offset=99,lag=0\r\n"
        "master_repl_offset:99\r\nmem_fragmentation_ratio:1.25\r\n"
        "# Keyspace\r\ndb0:keys=3,expires=1,avg_ttl=0\r\n"
    )
    info = parse_info(text.encode())
    assert info["redis_version"] == "7.2.4"
    assert info["uptime_in_seconds"] == 42
    assert info["executable"] == "/usr/bin/valkey-server"
    assert info["mem_fragmentation_ratio"] == 1.25
    assert info["slave0"] == {
        "ip": "10.0.0.2",
        "port": 6380,
        "state": "online",
        "offset": 99,
        "lag": 0,
    }
    assert info["db0"] == {"keys": 3, "expires": 1, "avg_ttl": 0}
    assert "Server" not in info and "# Server" not in info
    assert parse_info(text) == info  # str (decoded) input gives the same


def test_parse_role_shapes():
    primary = parse_role([b"master", 3129659, [[b"127.0.0.1", b"9001", b"3129242"]]])
    assert primary == Role(
        "primary", offset=3129659, replicas=(ReplicaLink("127.0.0.1", 9001, 3129242),)
    )
    assert primary.is_primary and not primary.is_replica
    replica = parse_role(["slave", "127.0.0.1", 9000, "connected", 3167038])
    assert replica == Role(
        "replica", offset=3167038, primary_host="127.0.0.1", primary_port=9000, state="connected"
    )
    sentinel = parse_role([b"sentinel", [b"mymaster"]])
    assert sentinel.role == "sentinel" and sentinel.primaries == ("mymaster",)
    with pytest.raises(ValueError):
        parse_role([b"leader"])
    with pytest.raises(ValueError):
        parse_role(b"master")


def test_string_and_key_helpers(valkey_node, arun):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as c:
            assert await c.ping() == b"PONG"
            assert await c.echo("x") == b"x"
            assert await c.set("s", "1") is True
            assert await c.set("s", "2", nx=True) is False
            assert await c.set("nope", "2", xx=True) is False
            assert await c.set("s", "3", xx=True, get=True) == b"1"
            assert await c.set("t", "v", ex=100) is True
            assert 0 < await c.ttl("t") <= 100
            assert await c.set("t", "v", px=50_000) is True
            assert 0 < await c.ttl("t") <= 50
            assert await c.set("t", "v", ex=1.5) is True  # fractional seconds -> PX
            assert await c.set("t", "w", keepttl=True) is True
            assert await c.ttl("t") >= 0
            with pytest.raises(ValueError):
                c.set("t", "v", nx=True, xx=True)
            with pytest.raises(ValueError):
                c.set("t", "v", ex=1, px=1)
            assert await c.incr("n") == 1
            assert await c.incrby("n", 41) == 42
            assert await c.decr("n") == 41
            assert await c.exists("n", "s", "missing") == 2
            assert await c.expire("n", 100) is True
            assert await c.expire("missing", 100) is False
            assert await c.expire("n", 10, gt=True) is False
            assert await c.mset({"a": "1", "b": "2"}) is True
            assert await c.mget("a", "b", "zz") == [b"1", b"2", None]
            assert await c.delete("a", "b", "zz") == 2
            assert await c.dbsize() == 3

    arun(main())


def test_set_with_absolute_expiry(valkey_node, arun):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as c:
            now = int(await c.time())
            assert await c.set("e", "v", exat=now + 100) is True
            assert await c.execute("EXPIRETIME", "e") == now + 100
            assert 90 <= await c.ttl("e") <= 100
            at_ms = now * 1000 + 50_123
            assert await c.set("p", "v", pxat=at_ms) is True
            assert await c.execute("PEXPIRETIME", "p") == at_ms
            # With NX on an existing key nothing changes, the deadline included.
            assert await c.set("e", "w", exat=now + 500, nx=True) is False
            assert await c.execute("EXPIRETIME", "e") == now + 100
            assert await c.set("e", "w", exat=now + 500, xx=True, get=True) == b"v"
            assert await c.execute("EXPIRETIME", "e") == now + 500
            assert await c.set("missing", "v", pxat=at_ms, xx=True) is False
            assert await c.exists("missing") == 0
            # A deadline already past: Valkey answers OK and the key is gone at once.
            assert await c.set("past", "v", exat=now - 10) is True
            assert await c.get("past") is None
            with pytest.raises(ReplyError, match="invalid expire time"):
                await c.set("zero", "v", exat=0)
            with pytest.raises(ValueError):
                c.set("e", "v", exat=now + 1, pxat=at_ms)
            with pytest.raises(ValueError):
                c.set("e", "v", ex=1, exat=now + 1)

    arun(main())


def test_expire_conditions(valkey_node, arun):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as c:
            await c.set("k", "v")
            await c.set("persistent", "v")
            # No TTL yet: XX and GT refuse (no TTL counts as infinite), NX sets it.
            assert await c.expire("k", 100, xx=True) is False
            assert await c.expire("k", 100, gt=True) is False
            assert await c.ttl("k") == -1
            assert await c.expire("k", 100, nx=True) is True
            assert 90 <= await c.ttl("k") <= 100
            assert await c.expire("k", 200, nx=True) is False
            # GT only lengthens, LT only shortens, XX needs an existing TTL.
            assert await c.expire("k", 50, gt=True) is False
            assert await c.expire("k", 300, gt=True) is True
            assert 290 <= await c.ttl("k") <= 300
            assert await c.expire("k", 400, lt=True) is False
            assert await c.expire("k", 60, lt=True) is True
            assert 50 <= await c.ttl("k") <= 60
            assert await c.expire("k", 80, xx=True) is True
            assert 70 <= await c.ttl("k") <= 80
            assert await c.expire("persistent", 100, lt=True) is True  # below infinite
            # Conflicting flags are the server's error, raised; the connection stays usable.
            with pytest.raises(ReplyError, match="not compatible"):
                await c.expire("k", 10, nx=True, xx=True)
            with pytest.raises(ReplyError, match="not compatible"):
                await c.expire("k", 10, gt=True, lt=True)
            assert 70 <= await c.ttl("k") <= 80
            assert await c.expire("missing", 10, nx=True) is False

    arun(main())


def test_hash_list_pubsub_helpers(valkey_node, arun_both):
    async def main():
        for proto in (3, 2):
            async with await connect(valkey_node.host, valkey_node.port, protocol=proto) as c:
                await c.flushall()
                assert await c.hset("h", {"f1": "a", "f2": "b"}) == 2
                assert await c.hget("h", "f2") == b"b"
                assert await c.hgetall("h") == {b"f1": b"a", b"f2": b"b"}
                assert await c.hgetall("missing") == {}
                assert await c.lpush("l", "x", "y") == 2
                assert await c.rpush("l", "z") == 3
                assert await c.lrange("l", 0, -1) == [b"y", b"x", b"z"]
                assert await c.publish("nobody", "hi") == 0
                assert await c.spublish("nobody", "hi") == 0

    arun_both(main())


def test_server_helpers(valkey_node, arun):
    async def main():
        async with await connect(valkey_node.host, valkey_node.port) as c:
            info = await c.info()
            assert info["role"] == "master" and isinstance(info["tcp_port"], int)
            assert info["tcp_port"] == valkey_node.port
            repl = await c.info("replication")
            assert "role" in repl and "redis_version" not in repl
            role = await c.role()
            assert role.is_primary and role.replicas == ()
            assert isinstance(await c.client_id(), int)
            assert await c.client_setname("me") is True
            assert await c.client_getname() == b"me"
            assert await c.config_set({"maxmemory-samples": "7", "hz": "15"}) is True
            cfg = await c.config_get("maxmemory-samples", "hz")
            assert cfg == {"maxmemory-samples": "7", "hz": "15"}
            assert await c.wait(0, 10) == 0

    arun(main())


def test_client_pause_write_blocks_writes_not_reads(valkey_node, arun):
    async def main():
        admin = await connect(valkey_node.host, valkey_node.port)
        other = await connect(valkey_node.host, valkey_node.port)
        await admin.set("k", "before")
        assert await admin.client_pause(5000, write_only=True) is True
        assert await other.get("k") == b"before"  # reads still served
        with pytest.raises(CommandTimeoutError):
            await other.execute("SET", "k", "during", timeout=0.2)
        assert await admin.client_unpause() is True
        assert await other.get("k") == b"during"  # the paused write ran after unpause
        await admin.aclose()
        await other.aclose()

    arun(main())


def test_replication_helpers(valkey_group, arun):
    g = valkey_group

    async def main():
        p = await connect(g.primary.host, g.primary.port)
        r1 = await connect(g.replicas[0].host, g.replicas[0].port)
        r2 = await connect(g.replicas[1].host, g.replicas[1].port)
        role = await p.role()
        assert role.is_primary
        assert {link.port for link in role.replicas} == {g.replicas[0].port, g.replicas[1].port}
        rrole = await r1.role()
        assert rrole.is_replica and rrole.primary_port == g.primary.port
        assert rrole.state == "connected"
        await p.set("x", "1")
        assert await p.wait(2, 5000) == 2
        # REPLICAOF NO ONE promotes; REPLICAOF host port demotes back.
        assert await r2.replicaof_no_one() is True
        assert (await r2.role()).is_primary
        assert await r2.replicaof(g.primary.host, g.primary.port) is True
        await until_role(r2, "replica", g.primary.port)
        # FAILOVER TO a replica: roles swap.
        assert await p.failover(g.replicas[0].host, g.replicas[0].port, timeout_ms=5000) is True
        await until_role(r1, "primary")
        await until_role(p, "replica", g.replicas[0].port)
        with pytest.raises(ValueError):
            p.failover(g.replicas[0].host)
        for c in (p, r1, r2):
            await c.aclose()

    arun(main())


def test_failover_abort(valkey_group, arun):
    g = valkey_group

    async def main():
        p = await connect(g.primary.host, g.primary.port)
        # Nothing to abort: Valkey refuses, and says so.
        with pytest.raises(ReplyError, match="No failover in progress"):
            await p.failover(abort=True)
        # A failover held in waiting-for-sync (its target is stopped, so it never acks the
        # write below) is aborted: the primary stays primary and takes writes again.
        target = g.replicas[0]
        target.kill(signal.SIGSTOP)
        try:
            await p.set("x", "behind")
            assert await p.failover(target.host, target.port, timeout_ms=60_000) is True
            state = (await p.info("replication"))["master_failover_state"]
            assert state == "waiting-for-sync"
            assert await p.failover(abort=True) is True
            info = await p.info("replication")
            assert info["master_failover_state"] == "no-failover" and info["role"] == "master"
            async with asyncio.timeout(5):
                assert await p.set("x", "after") is True  # the failover's write pause is off
        finally:
            target.kill(signal.SIGCONT)
        assert (await p.role()).is_primary
        await p.aclose()

    arun(main())


async def until_role(conn, role: str, primary_port: int | None = None) -> None:
    seen: list[Role] = []

    async def check() -> None:
        while True:
            r = await conn.role()
            seen.append(r)
            if r.role == role and (primary_port is None or r.primary_port == primary_port):
                if role != "replica" or r.state == "connected":
                    return
            await asyncio.sleep(0.02)

    try:
        async with asyncio.timeout(15):
            await check()
    except TimeoutError:
        raise AssertionError(f"{conn} never became {role}: last {seen[-1:]}") from None


def test_until_helper_times_out():
    async def main():
        with pytest.raises(AssertionError):
            await until(lambda: False, limit=0.01)

    asyncio.run(main())


def test_client_list_kill_and_time(valkey_node, arun):
    async def main():
        import time as _time

        admin = await connect(valkey_node.host, valkey_node.port, client_name="admin")
        victims = [
            await connect(valkey_node.host, valkey_node.port, client_name=f"v{i}") for i in range(3)
        ]
        clients = await admin.client_list()
        names = {c["name"] for c in clients}
        assert {"admin", "v0", "v1", "v2"} <= names
        assert all("id" in c and "addr" in c for c in clients)
        v0_id = await victims[0].client_id()
        assert await admin.client_kill(client_id=v0_id) == 1
        await until(lambda: victims[0].is_closed, what="v0 to be dropped")
        # Fencing style: drop every normal client except ourselves.
        assert await admin.client_kill(client_type="normal") == 2
        await until(lambda: all(v.is_closed for v in victims), what="all victims dropped")
        assert await admin.ping() == b"PONG"
        with pytest.raises(ValueError):
            admin.client_kill()
        server_now = await admin.time()
        assert abs(server_now - _time.time()) < 5
        await admin.aclose()

    arun(main())
