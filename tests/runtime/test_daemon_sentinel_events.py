"""Real daemons publish Sentinel's event payloads, not the core's internal details.

Sentinel publishes a replica's subjective down as
``slave <ip>:<port> <ip> <port> @ <group> <primary ip> <primary port>`` (the shape
``tests/runtime/test_sentinel.py`` checks against a real Sentinel); tools that parse the
``@`` suffix to find the group must get it from gungnir too.  Through a whole failover
every Sentinel event a daemon publishes must have Sentinel's shape and name the addresses
Sentinel would: the old primary until ``+switch-master`` (``+promoted-slave`` and
``+failover-end`` included), the new one after.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import signal
from typing import Any

import pytest
import redis.asyncio

from gungnir.local import start_group
from gungnir.runtime.cluster import InProcessCluster, cluster_docs

from .support import nodes_of, until

pytestmark = pytest.mark.slow


async def collect_until(sub: Any, seen: list[tuple[str, str]], channel: str) -> None:
    """Append every event ``sub`` receives to ``seen`` until one on ``channel`` is there.
    The caller bounds it (``asyncio.wait_for``)."""
    while not any(ch == channel for ch, _ in seen):
        msg = await sub.get_message(ignore_subscribe_messages=True, timeout=1)
        if msg is not None and msg["type"] in ("message", "pmessage"):
            seen.append((msg["channel"].decode(), msg["data"].decode()))


#: Sentinel's instance text for a replica (sentinel.c's sentinelEvent "%@" form).
REPLICA_EVENT = re.compile(
    r"^slave (?P<name>\S+):(?P<nport>\d+) (?P<ip>\S+) (?P<port>\d+) "
    r"@ (?P<group>\S+) (?P<mip>\S+) (?P<mport>\d+)$"
)
_MASTER = r"master (?P<group>\S+) (?P<ip>\S+) (?P<port>\d+)"
MASTER_EVENT = re.compile(f"^{_MASTER}$")
#: Sentinel's payload for each event it publishes (sentinel.c's sentinelEvent formats).
PAYLOADS = {
    "+sdown": (MASTER_EVENT, REPLICA_EVENT),
    "-sdown": (MASTER_EVENT, REPLICA_EVENT),
    "+odown": (re.compile(f"^{_MASTER} #quorum \\d+/\\d+$"),),
    "-odown": (MASTER_EVENT,),
    "+new-epoch": (re.compile(r"^\d+$"),),
    "+vote-for-leader": (re.compile(r"^[0-9a-f]{40} \d+$"),),
    "+try-failover": (MASTER_EVENT,),
    "+elected-leader": (MASTER_EVENT,),
    "-failover-abort-not-elected": (MASTER_EVENT,),
    "-failover-abort-no-good-slave": (MASTER_EVENT,),
    "+promoted-slave": (REPLICA_EVENT,),
    "+failover-end": (MASTER_EVENT,),
    "+convert-to-slave": (REPLICA_EVENT,),
    "+switch-master": (
        re.compile(r"^(?P<group>\S+) (?P<oip>\S+) (?P<oport>\d+) (?P<ip>\S+) (?P<port>\d+)$"),
    ),
}


def sentinel_shape(channel: str, payload: str) -> re.Match[str]:
    """The match of ``payload`` against Sentinel's format for ``channel`` (fails if none)."""
    for pattern in PAYLOADS[channel]:
        m = pattern.match(payload)
        if m is not None:
            return m
    raise AssertionError(f"{channel} {payload!r} is not Sentinel's payload")


def test_replica_sdown_payload_names_the_group_and_its_primary(tmp_path: Any) -> None:
    async def main() -> tuple[list[tuple[str, str]], str]:
        with start_group(replicas=2) as g:
            async with InProcessCluster(cluster_docs(nodes_of(g), tmp_path)) as c:
                await until(lambda: c.primaries() == {"node-0"}, 15, "bootstrap")
                sub = redis.asyncio.Redis(port=c.daemons["d1"].port).pubsub()
                await sub.subscribe("+sdown", "-sdown")
                seen: list[tuple[str, str]] = []

                collect = functools.partial(collect_until, sub, seen)

                replica = g.replicas[0]
                replica.stop()
                await asyncio.wait_for(collect("+sdown"), 15)
                replica.restart()
                await asyncio.wait_for(collect("-sdown"), 15)
                await sub.aclose()
                expected = (
                    f"slave {replica.host}:{replica.port} {replica.host} {replica.port} "
                    f"@ demo {g.primary.host} {g.primary.port}"
                )
                return [(ch, data) for ch, data in seen if data.startswith("slave")], expected

    events, expected = asyncio.run(asyncio.wait_for(main(), 60))
    assert ("+sdown", expected) in events
    assert ("-sdown", expected) in events
    for _, payload in events:
        m = REPLICA_EVENT.match(payload)
        assert m is not None, payload
        assert m["group"] == "demo"
        assert (m["name"], m["nport"]) == (m["ip"], m["port"])


def test_a_failover_publishes_sentinel_payloads_for_every_sentinel_event(tmp_path: Any) -> None:
    """Subscribe to everything on every daemon, kill the primary, bring it back: each
    Sentinel event received parses as Sentinel's, and names the addresses Sentinel would."""

    Seen = list[tuple[str, str, str]]  # (daemon, channel, payload)

    async def main() -> tuple[Seen, tuple[str, int], tuple[str, int]]:
        with start_group(replicas=2) as g:
            async with InProcessCluster(cluster_docs(nodes_of(g), tmp_path)) as c:
                await until(lambda: c.primaries() == {"node-0"}, 15, "bootstrap")
                seen: Seen = []
                subs = []
                for name, d in c.daemons.items():
                    sub = redis.asyncio.Redis(port=d.port).pubsub()
                    await sub.psubscribe("*")
                    subs.append((name, sub))

                async def pump(name: str, sub: Any) -> None:
                    while True:
                        msg = await sub.get_message(ignore_subscribe_messages=True, timeout=1)
                        if msg is not None and msg["type"] == "pmessage":
                            seen.append((name, msg["channel"].decode(), msg["data"].decode()))

                pumps = [asyncio.create_task(pump(n, s)) for n, s in subs]

                def got(channel: str) -> bool:
                    return any(ch == channel for _, ch, _ in seen)

                try:
                    old = g.primary
                    old_addr = (old.host, old.port)
                    old.kill(signal.SIGKILL)
                    for event in ("+switch-master", "+promoted-slave", "+failover-end"):
                        await until(functools.partial(got, event), 30, event)
                    await until(
                        lambda: len(c.primaries()) == 1 and c.primaries() != {"node-0"},
                        10,
                        "every daemon to follow the new primary",
                    )
                    (new_name,) = c.primaries()
                    assert new_name is not None and new_name != "node-0"
                    new = next(n for n in g.nodes if n.name == new_name)
                    old.restart()
                    back = f"slave {old.host}:{old.port} "
                    await until(
                        lambda: any(
                            ch == "+convert-to-slave" and data.startswith(back)
                            for _, ch, data in seen
                        ),
                        30,
                        "+convert-to-slave of the old primary",
                    )
                finally:
                    for t in pumps:
                        t.cancel()
                    for t in pumps:
                        with contextlib.suppress(asyncio.CancelledError):
                            await t
                    for _, sub in subs:
                        await sub.aclose()
                return list(seen), old_addr, (new.host, new.port)

    seen, old, new = asyncio.run(asyncio.wait_for(main(), 120))
    checked: dict[str, list[re.Match[str]]] = {}
    for _, channel, payload in seen:
        if channel in PAYLOADS:
            m = sentinel_shape(channel, payload)
            if "group" in m.groupdict():
                assert m["group"] == "demo", payload
            checked.setdefault(channel, []).append(m)

    def addr(m: re.Match[str], ip: str = "ip", port: str = "port") -> tuple[str, int]:
        return m[ip], int(m[port])

    # Every daemon announced the switch, from the old primary to the new one.
    assert {(addr(m, "oip", "oport"), addr(m)) for m in checked["+switch-master"]} == {(old, new)}
    assert len(checked["+switch-master"]) == 3
    # The promoted replica, "@" the primary it replaced; the end of the failover names that
    # old primary too (Sentinel publishes both before it switches its master's address).
    promoted = checked["+promoted-slave"][0]
    assert (addr(promoted), addr(promoted, "mip", "mport")) == (new, old)
    assert (promoted["name"], int(promoted["nport"])) == new
    assert {addr(m) for m in checked["+failover-end"]} == {old}
    # The election named the primary it was replacing.
    assert old in {addr(m) for m in checked["+try-failover"]}
    assert old in {addr(m) for m in checked["+elected-leader"]}
    assert old in {addr(m) for m in checked["+odown"]}
    assert checked["+new-epoch"]
    # After the switch nothing says the new primary was objectively down.
    assert new not in {addr(m) for m in checked.get("-odown", [])}
    # The old primary came back as a primary and was converted, "@" the new primary.
    converted = [(addr(m), addr(m, "mip", "mport")) for m in checked["+convert-to-slave"]]
    assert (old, new) in converted


def test_a_primary_back_before_it_could_be_replaced_gets_sentinel_payloads(tmp_path: Any) -> None:
    """No replica may be promoted (priority 0): the primary is paused, judged objectively
    down, the election finds no good replica, and the primary comes back.  -odown names
    that same primary, as Sentinel's does."""

    async def main() -> tuple[list[tuple[str, str]], tuple[str, int]]:
        with start_group(replicas=2) as g:
            for replica in g.replicas:
                assert replica.command("CONFIG", "SET", "replica-priority", "0") == b"OK"
            async with InProcessCluster(cluster_docs(nodes_of(g), tmp_path)) as c:
                await until(lambda: c.primaries() == {"node-0"}, 15, "bootstrap")
                sub = redis.asyncio.Redis(port=c.daemons["d1"].port).pubsub()
                await sub.psubscribe("*")
                seen: list[tuple[str, str]] = []

                collect = functools.partial(collect_until, sub, seen)

                primary = g.primary
                try:
                    primary.kill(signal.SIGSTOP)
                    await asyncio.wait_for(collect("+odown"), 15)
                    await asyncio.wait_for(collect("-failover-abort-no-good-slave"), 15)
                finally:
                    primary.kill(signal.SIGCONT)
                await asyncio.wait_for(collect("-odown"), 15)
                await asyncio.wait_for(collect("-sdown"), 15)
                await sub.aclose()
                assert c.primaries() == {"node-0"}
                return seen, (primary.host, primary.port)

    seen, (host, port) = asyncio.run(asyncio.wait_for(main(), 90))
    master = f"master demo {host} {port}"
    payloads = {(ch, data) for ch, data in seen}
    for channel in ("+sdown", "-odown", "-sdown", "-failover-abort-no-good-slave"):
        assert (channel, master) in payloads, channel
    assert any(ch == "+odown" and data.startswith(master + " #quorum ") for ch, data in seen)
    for channel, payload in seen:
        if channel in PAYLOADS:
            sentinel_shape(channel, payload)


def test_a_manual_failover_publishes_sentinel_payloads(tmp_path: Any) -> None:
    """``SENTINEL FAILOVER`` on a daemon: that daemon leads the switchover, and its
    +promoted-slave and +failover-end name the primary it replaced, as Sentinel's do."""

    async def main() -> tuple[list[tuple[str, str]], tuple[str, int], tuple[str, int]]:
        with start_group(replicas=2) as g:
            async with InProcessCluster(cluster_docs(nodes_of(g), tmp_path)) as c:
                await until(lambda: c.primaries() == {"node-0"}, 15, "bootstrap")
                # a first start is amnesiac: d1 stands only once every voter told its epoch
                await until(
                    lambda: all(d.groups["demo"].state.amnesia is None for d in c.daemons.values()),
                    15,
                    "every daemon to know its epoch",
                )
                port = c.daemons["d1"].port
                sub = redis.asyncio.Redis(port=port).pubsub()
                await sub.psubscribe("*")
                seen: list[tuple[str, str]] = []

                collect = functools.partial(collect_until, sub, seen)

                client = redis.asyncio.Redis(port=port, socket_timeout=15)
                try:
                    assert await client.execute_command("SENTINEL", "FAILOVER", "demo")
                finally:
                    await client.aclose()
                await asyncio.wait_for(collect("+failover-end"), 20)
                await sub.aclose()
                await until(
                    lambda: len(c.primaries()) == 1 and c.primaries() != {"node-0"},
                    10,
                    "every daemon to follow the new primary",
                )
                (name,) = c.primaries()
                new = next(n for n in g.nodes if n.name == name)
                return seen, (g.primary.host, g.primary.port), (new.host, new.port)

    seen, old, new = asyncio.run(asyncio.wait_for(main(), 90))
    got: dict[str, re.Match[str]] = {}
    for channel, payload in seen:
        if channel in PAYLOADS:
            got.setdefault(channel, sentinel_shape(channel, payload))
    master = "master demo {} {}"
    assert got["+try-failover"][0] == master.format(*old)
    assert got["+elected-leader"][0] == master.format(*old)
    promoted = got["+promoted-slave"]
    assert ((promoted["ip"], int(promoted["port"])), (promoted["mip"], int(promoted["mport"]))) == (
        new,
        old,
    )
    assert got["+switch-master"][0] == "demo {} {} {} {}".format(*old, *new)
    assert got["+failover-end"][0] == master.format(*old)
