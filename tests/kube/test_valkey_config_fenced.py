"""The Valkey pods' config (k8s/base/valkey-configmap.yaml) starts a node fenced, and the
daemon's executor lifts that fence: checked with a real valkey-server reading the config.

Why: a primary pod back without its data must not take writes or serve a full sync to its
replicas before a daemon has looked at it (docs/faults.md, restart-empty-primary).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from gungnir.core import UNMEETABLE_REPLICAS, SetWriteQuorum
from gungnir.faults.daemons import ConfigFileNode
from gungnir.local import ValkeyProcess, wait_until
from gungnir.runtime.executor import execute
from gungnir.runtime.prober import NodeLink, denies_sync
from gungnir.runtime.startfence import start_fence_lines

from .conftest import REPO

#: Lines that only make sense in the pod (its volume, its interface and port, its AOF); the
#: test server gets its own from the command line, which Valkey applies after the file.
POD_ONLY = ("dir ", "bind ", "port ", "appendonly ")


def configmap_lines() -> list[str]:
    doc = yaml.safe_load((REPO / "k8s/base/valkey-configmap.yaml").read_text())
    text = doc["data"]["valkey.conf"]
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]


def test_the_configmap_carries_the_start_fence() -> None:
    lines = configmap_lines()
    for line in start_fence_lines():
        assert line in lines, f"valkey.conf lacks the start-up fence line {line!r}"
    assert not any(ln.startswith("requirepass") for ln in lines), "a user line overrides it"


def _link(replica: ValkeyProcess) -> str | None:
    return replica.info().get("master_link_status")


def test_a_pod_config_node_starts_fenced_until_set_write_quorum(tmp_path: Path) -> None:
    conf = [ln for ln in configmap_lines() if not ln.startswith(POD_ONLY)]
    assert len(conf) < len(configmap_lines()), "the pod-only lines were found and dropped"
    primary = ConfigFileNode(name="valkey-0", workdir=tmp_path / "p", conf_lines=conf)
    (tmp_path / "p").mkdir()
    with primary, ValkeyProcess(name="valkey-1") as replica:
        assert primary.command("CONFIG", "GET", "min-replicas-to-write") == [
            b"min-replicas-to-write",
            str(UNMEETABLE_REPLICAS).encode(),
        ]
        assert denies_sync(primary.command("ACL", "GETUSER", "default"))
        assert str(primary.command("SET", "k", "v")).startswith("NOREPLICAS")
        replica.replicaof(primary)
        # The replica's handshake is refused (twice, so a retry is refused too).
        wait_until(
            lambda: replica.logfile.read_text(errors="replace").count("NOPERM") >= 2,
            timeout=10,
            what="the replica to be refused a sync twice",
        )
        assert _link(replica) == "down"

        async def lift() -> bool:
            link = NodeLink("valkey-0", primary.address, names={primary.address: "valkey-0"})
            try:
                result = await execute(
                    SetWriteQuorum("valkey-0", 1, 1, 2),
                    link,
                    {"valkey-0": primary.address},
                    limit=2.0,
                    pause_ms=1000,
                )
            finally:
                link.close()
            return result.ok

        assert asyncio.run(lift())
        assert not denies_sync(primary.command("ACL", "GETUSER", "default"))
        wait_until(lambda: _link(replica) == "up", timeout=10, what="the replica to sync")
        assert primary.command("CONFIG", "GET", "min-replicas-to-write")[1] == b"1"
        assert primary.command("SET", "k", "v") == b"OK"
        assert primary.command("WAIT", "1", "2000") == 1
