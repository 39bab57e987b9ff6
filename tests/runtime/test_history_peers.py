"""``gungnir history`` on a daemon that missed an epoch: the story comes from its peers.

Issue 22: a daemon that was down during a failover had no record of it, named the wrong old
primary for the next epoch, showed only ``only votes here: ask the candidate`` for epochs
led by others, and gave no reason for any failover.  Real valkey-server processes, three
in-process daemons on a loop in a background thread, and the CLI called as an operator does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gungnir.local import start_group
from gungnir.runtime.cluster import InProcessCluster, cluster_docs

from .failover_fixture import background_loop, history_json, run_cli
from .support import nodes_of, until

pytestmark = pytest.mark.slow


class Story:
    def __init__(self, ports: dict[str, int]) -> None:
        self.ports = ports


@pytest.fixture(scope="module")
def missed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Story]:
    """d3 is down while d1/d2 switch node-0 over to node-1; it comes back, then node-1 is
    switched over to node-2 with every daemon up."""
    base: Path = tmp_path_factory.mktemp("missed")

    def switch_to(node: str, via: str) -> None:
        port = cluster.daemons[via].port
        code = run_cli_plain("failover", "demo", "--to", node, "-a", f"127.0.0.1:{port}")
        assert code == 0, f"switchover to {node} failed"

    with background_loop() as on_loop, start_group(replicas=2) as g:
        cluster = InProcessCluster(cluster_docs(nodes_of(g), base))
        try:
            on_loop(cluster.start())
            on_loop(until(lambda: cluster.primaries() == {"node-0"}, 10, "bootstrap"))
            on_loop(until(lambda: _peers_up(cluster), 10, "every peer link up"))
            on_loop(cluster.stop_one("d3"))
            switch_to("node-1", "d1")
            on_loop(cluster.start_one("d3"))
            on_loop(until(lambda: cluster.primaries() == {"node-1"}, 15, "d3 to follow node-1"))
            on_loop(until(lambda: _peers_up(cluster), 10, "d3's peer links up"))
            switch_to("node-2", "d1")
            on_loop(until(lambda: cluster.primaries() == {"node-2"}, 15, "everyone on node-2"))
            yield Story({name: d.port for name, d in cluster.daemons.items()})
        finally:
            on_loop(cluster.stop())


def _peers_up(cluster: InProcessCluster) -> bool:
    return all(
        all(ok for _, ok, _ in next(iter(d.groups.values())).state.peers)
        for d in cluster.daemons.values()
    )


def run_cli_plain(*argv: str) -> int:
    from gungnir.cli import main

    return int(main(list(argv)))


def _by_new(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["new_primary"]: f for f in doc["failovers"] if f["new_primary"]}


def test_alone_the_daemon_that_missed_an_epoch_names_no_wrong_old_primary(missed, capsys):
    doc = history_json(capsys, "-a", f"127.0.0.1:{missed.ports['d3']}", "--no-peers")
    assert doc["sources"] == [f"daemon d3 at 127.0.0.1:{missed.ports['d3']}"]
    for fo in doc["failovers"]:
        if fo["new_primary"] is not None:
            assert fo["old_primary"] != fo["new_primary"] or "reconcile" in fo["reason"], fo
        assert fo["new_primary"] != "node-1" or fo["old_primary"] in (None, "node-0"), fo
    second = _by_new(doc)["node-2"]
    assert second["old_primary"] in (None, "node-1")


def test_the_story_of_a_missed_epoch_is_gathered_from_the_peers(missed, capsys):
    doc = history_json(capsys, "-a", f"127.0.0.1:{missed.ports['d3']}")
    assert len(doc["sources"]) == 3 and not any("NOT REACHED" in s for s in doc["sources"])
    stories = _by_new(doc)
    first, second = stories["node-1"], stories["node-2"]
    assert first["old_primary"] == "node-0" and first["leader"] in ("d1", "d2")
    assert first["reason"] == "operator switchover to node-1"
    assert first["outcome"] == "completed"
    assert second["old_primary"] == "node-1" and second["reason"] == "operator switchover to node-2"
    assert second["epoch"] > first["epoch"]
    # d3 was down: the leader's decisions come from its peers
    assert first["leader"] in {s["daemon"] for s in first["steps"] if s["kind"] != "notice"}

    code, text, _ = run_cli(capsys, "history", "demo", "-a", f"127.0.0.1:{missed.ports['d3']}")
    assert code == 0
    lines = text.splitlines()
    head = next(i for i, x in enumerate(lines) if x.startswith(f"epoch {first['epoch']} "))
    assert "node-0 -> node-1" in lines[head] and f"leader {first['leader']}" in lines[head]
    assert lines[head + 1] == "  why: operator switchover to node-1"
    assert "only votes" not in text


def test_an_unreachable_peer_is_named_and_the_rest_is_told(missed, capsys, monkeypatch):
    from gungnir.runtime import commands

    real = commands._call
    d2 = ("127.0.0.1", missed.ports["d2"])

    async def flaky(addr: Any, password: Any, *cmd: Any) -> Any:
        if tuple(addr) == d2:
            raise ConnectionRefusedError("refused")
        return await real(addr, password, *cmd)

    monkeypatch.setattr(commands, "_call", flaky)
    doc = history_json(capsys, "-a", f"127.0.0.1:{missed.ports['d3']}")
    assert any(s.startswith("daemon d2 at ") and "NOT REACHED" in s for s in doc["sources"])
    assert "node-2" in _by_new(doc)
