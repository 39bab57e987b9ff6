"""Probing real nodes and carrying out node actions on them."""

from __future__ import annotations

import asyncio
import io
import json
import logging

import pytest

from gungnir.core import FailoverCommand, Fence, Promote, Repoint, SetWriteQuorum, Unfence
from gungnir.local import free_port, start_group
from gungnir.runtime.executor import execute
from gungnir.runtime.logs import JsonFormatter, TextFormatter
from gungnir.runtime.prober import NodeLink, probe_from_replies

from .support import nodes_of


def links(group):
    addrs = nodes_of(group)
    names = {a: n for n, a in addrs.items()}
    return addrs, {n: NodeLink(n, a, names=names) for n, a in addrs.items()}


def test_probe_primary_and_replica():
    async def main():
        with start_group(replicas=1) as g:
            g.primary.command("SET", "k", "v")
            g.primary.command("WAIT", "1", "2000")
            _, ls = links(g)
            p = await ls["node-0"].probe(1.0)
            r = await ls["node-1"].probe(1.0)
            for link in ls.values():
                link.close()
        assert p.reachable and p.role == "primary" and p.accepts_writes and not p.empty
        assert p.offset > 0 and len(p.run_id) == 40 and p.replid
        assert r.reachable and r.role == "replica" and r.master == "node-0" and r.link_up
        assert r.offset > 0 and r.replid == p.replid and r.priority == 100 and not r.empty

    asyncio.run(main())


def test_unreachable_node_is_a_failed_probe_not_an_error():
    async def main():
        with start_group(replicas=1) as g:
            _, ls = links(g)
            g.replicas[0].kill()
            probe = await ls["node-1"].probe(0.5)
        assert not probe.reachable and ls["node-1"].failures == 1

    asyncio.run(main())


def test_probe_reads_back_every_setting_the_guarantees_rest_on():
    """min-replicas-to-write, min-replicas-max-lag and the start fence's sync denial, on
    every probe (design rule 10); a node that will not show them is not settings_ok."""

    async def main():
        with start_group(replicas=1, min_replicas_to_write=1, min_replicas_max_lag=7) as g:
            _, ls = links(g)
            p = await ls["node-0"].probe(1.0)
            assert (p.min_replicas, p.max_lag, p.sync_denied, p.settings_ok) == (1, 7, False, True)
            g.primary.command("ACL", "SETUSER", "default", "-sync", "-psync")
            assert (await ls["node-0"].probe(1.0)).sync_denied
            # a daemon user that may read the config but not the ACL: the node answers, its
            # settings cannot be verified
            g.primary.command("ACL", "SETUSER", "probe", "on", ">pw", "+@all", "-acl")
            ls["node-0"].username, ls["node-0"].password = "probe", "pw"
            ls["node-0"].close()
            q = await ls["node-0"].probe(1.0)
            assert q.reachable and q.role == "primary" and not q.settings_ok
            for link in ls.values():
                link.close()

    asyncio.run(main())


def test_probe_without_max_lag_in_the_reply_is_not_settings_ok():
    role = [b"master", 0, []]
    replies = [role, b"# Replication\r\nrole:master\r\n", [b"min-replicas-to-write", b"1"], None]
    p = probe_from_replies("n", replies, {})
    assert p.reachable and p.min_replicas == 1 and not p.settings_ok


@pytest.mark.parametrize(
    "replies",
    [[["sentinel", []], b"", []], [ValueError("x"), b"", []], [["master", 0, []], b"", b"?"]],
)
def test_bad_shapes_are_refused(replies):
    with pytest.raises(ValueError):
        probe_from_replies("n", replies, {})


def test_fence_unfence_promote_repoint():
    async def main():
        with start_group(replicas=1) as g:
            addrs, ls = links(g)

            async def do(action):
                return await execute(action, ls[action.node], addrs, limit=2.0, pause_ms=5000)

            assert (await do(Fence("node-0", 1, "min_replicas"))).ok
            assert (await ls["node-0"].probe(1.0)).accepts_writes is False
            assert b"NOREPLICAS" in str(g.primary.command("SET", "a", "1")).encode()
            assert (await do(Unfence("node-0", 1, 0))).ok
            assert g.primary.command("SET", "a", "1") == b"OK"
            assert (await do(Fence("node-0", 1, "pause"))).ok
            assert (await ls["node-0"].probe(1.0)).paused
            assert (await do(Unfence("node-0", 1, 0))).ok
            assert not (await ls["node-0"].probe(1.0)).paused
            assert (await do(SetWriteQuorum("node-0", 1, 1, 3))).ok
            assert g.primary.command("CONFIG", "GET", "min-replicas-max-lag")[1] == b"3"
            assert (await do(Promote("node-1", 2))).ok
            assert g.replicas[0].info()["role"] == "master"
            assert (await do(Repoint("node-0", "node-1", 2))).ok
            assert g.primary.info()["master_port"] == str(g.replicas[0].port)
            bad = await do(Repoint("node-0", "nowhere", 2))
            assert not bad.ok and "no address" in bad.reason
            g.replicas[0].kill()
            failed = await do(Promote("node-1", 3))
            assert not failed.ok and failed.reason
            for link in ls.values():
                link.close()

    asyncio.run(main())


@pytest.fixture
def executor_log():
    """The executor's logger at DEBUG for the test (an earlier ``setup_logging`` in the same
    process may have raised the ``gungnir`` level and turned off propagation)."""
    logger = logging.getLogger("gungnir.executor")
    level = logger.level
    logger.setLevel(logging.DEBUG)
    yield logger
    logger.setLevel(level)


class _Records(logging.Handler):
    """Collects the executor's records directly (the daemon's setup_logging turns off
    propagation of ``gungnir`` loggers, so caplog may not see them)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.mark.parametrize(
    "action",
    [
        Promote("node-1", 7),
        Repoint("node-1", "nowhere", 7),
        FailoverCommand("node-1", "node-2", 7, 50),
    ],
)
def test_a_failed_action_is_logged_with_its_group_and_epoch(action, executor_log):
    """Every failover log line carries group and epoch: the failure of a node action too,
    whether the node refused the connection or the action named an unknown node."""
    port = free_port()  # nothing listens there: the connection is refused
    link = NodeLink("node-1", ("127.0.0.1", port), names={("127.0.0.1", port): "node-1"})
    logger = executor_log
    handler = _Records()
    logger.addHandler(handler)
    try:
        addresses = {"node-1": ("127.0.0.1", port), "node-2": ("127.0.0.1", port)}
        result = asyncio.run(execute(action, link, addresses, limit=0.5, pause_ms=1, group="cache"))
    finally:
        logger.removeHandler(handler)
        link.close()
    assert not result.ok and result.reason
    failed = [r for r in handler.records if r.levelno == logging.WARNING]
    assert len(failed) == 1, [r.getMessage() for r in handler.records]
    record = failed[0]
    assert (record.group, record.epoch, record.node) == ("cache", 7, "node-1")
    assert f"group cache epoch 7: {type(action).__name__} on node-1 failed" in record.getMessage()
    line = json.loads(JsonFormatter().format(record))
    assert (line["group"], line["epoch"], line["node"]) == ("cache", 7, "node-1")
    assert TextFormatter().format(record).endswith("[group=cache epoch=7 node=node-1]")


def test_a_failed_action_without_a_group_still_names_its_epoch(executor_log):
    stream = io.StringIO()
    logger = executor_log
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger.addHandler(handler)
    link = NodeLink("node-1", ("127.0.0.1", 1), names={})
    try:
        result = asyncio.run(
            execute(Repoint("node-1", "nowhere", 3), link, {}, limit=0.5, pause_ms=1)
        )
    finally:
        logger.removeHandler(handler)
    assert not result.ok
    line = json.loads(stream.getvalue().splitlines()[-1])
    assert line["epoch"] == 3 and "group" not in line and line["msg"].startswith("epoch 3: ")
