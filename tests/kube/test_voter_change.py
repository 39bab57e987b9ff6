"""A voter change on a running group: ValkeyGroup ``spec.voters`` edited from three daemons to
three others, picked up without a restart, committed by joint consensus while the group keeps
its primary; then a failover decided by the new set alone (the old voters stopped).

Emulated API, daemons started as ``gungnir run --kubernetes`` starts them, real Valkey.
"""

from __future__ import annotations

import asyncio
import json
import signal
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from gungnir.local import free_port, start_group

from .apiserver import ApiServer
from .conftest import NS, run, until
from .kube_daemons import DAEMON_LABELS, GROUP, VOTERS, KubeCluster, run_pod

pytestmark = pytest.mark.slow

NEW = ["n4", "n5", "n6"]


def group_obj(kc: client.ApiClient) -> dict[str, Any]:
    obj: dict[str, Any] = client.CustomObjectsApi(kc).get_namespaced_custom_object(
        "gungnir.io", "v1alpha1", NS, "valkeygroups", GROUP
    )
    return obj


def condition(obj: dict[str, Any], kind: str) -> dict[str, Any] | None:
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c.get("type") == kind:
            return dict(c)
    return None


def test_voters_change_to_three_other_daemons_then_they_fail_over(
    api: ApiServer, kc: client.ApiClient, tmp_path: Path
) -> None:
    async def main() -> None:
        with start_group(replicas=2) as g:
            c = KubeCluster(api, kc, tmp_path)
            c.setup(g.nodes)
            for node in NEW:  # three more DaemonSet pods: observers at first
                c.ports[node] = free_port()
                c.metrics_ports[node] = free_port()
                run_pod(kc, f"gungnir-{node}", DAEMON_LABELS, node, {"peer": c.ports[node]})
            try:
                for node in VOTERS + NEW:
                    await c.start(node)
                await until(lambda: c.primaries() == {g.primary.name}, 15, "bootstrap")
                assert not c.wirings["n4"].daemon.groups[GROUP].state.is_voter
                client.CustomObjectsApi(kc).patch_namespaced_custom_object(
                    "gungnir.io", "v1alpha1", NS, "valkeygroups", GROUP, {"spec": {"voters": NEW}}
                )

                def committed() -> bool:
                    return all(
                        w.daemon.groups[GROUP].state.settings.voters == tuple(NEW)
                        and not w.daemon.groups[GROUP].state.settings.next_voters
                        for w in c.wirings.values()
                    )

                await until(committed, 20, "the new voter set committed on every daemon")
                # the group kept its primary: a reconfiguration moves no node
                assert c.primaries() == {g.primary.name}
                role = await asyncio.to_thread(g.primary.command, "ROLE")
                assert role[0] in (b"master", "master")
                st = c.wirings["n4"].daemon.groups[GROUP].state
                assert st.is_voter and not c.wirings["n1"].daemon.groups[GROUP].state.is_voter
                assert st.config.voters == tuple(NEW)
                await until(
                    lambda: (group_obj(kc).get("status") or {}).get("voters") == NEW,
                    10,
                    "status.voters",
                )
                cond = condition(group_obj(kc), "VotersChanging")
                assert cond is not None and cond["status"] == "False", cond
                # a switchover request goes to exactly one daemon of the new set
                await until(
                    lambda: [n for n in VOTERS + NEW if c.wirings[n].designated(GROUP)] != [],
                    10,
                    "a designated daemon",
                )
                designated = [n for n in VOTERS + NEW if c.wirings[n].designated(GROUP)]
                assert len(designated) == 1 and designated[0] in NEW, designated
                # the persisted view: a restart keeps it
                # <state>/<namespace>/<group>.state.json: scoped by namespace and group
                state_file = c.wirings["n5"].daemon.groups[GROUP].store.path
                assert state_file.parent.parent == tmp_path / "n5" / "state"
                body = json.loads(state_file.read_text())["body"]
                assert body["voters"] == NEW and body["next_voters"] == []

                # the old voters go away; the new set alone fails the primary over
                for node in VOTERS:
                    await c.wirings.pop(node).stop()
                before = st.config.epoch
                g.primary.kill(signal.SIGKILL)

                def failed_over() -> bool:
                    ps = c.primaries()
                    return len(ps) == 1 and ps != {g.primary.name} and None not in ps

                await until(failed_over, 30, "a failover decided by the new voters")
                (new_primary,) = c.primaries()
                assert new_primary in {r.name for r in g.replicas}
                epochs = {w.daemon.groups[GROUP].state.config.epoch for w in c.wirings.values()}
                assert min(epochs) > before
                leaders = []
                for node in NEW:
                    text = (tmp_path / node / "decisions.jsonl").read_text()
                    for line in text.splitlines():
                        rec = json.loads(line)
                        if rec["kind"] == "leader_elected" and rec["epoch"] > before:
                            leaders.append(rec)
                assert leaders, "no leader logged for the failover"
                for rec in leaders:
                    assert set(rec["voters"]) <= set(NEW) and len(rec["voters"]) >= 2, rec
            finally:
                await c.stop()

    run(main(), timeout=150)
