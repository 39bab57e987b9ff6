"""``gungnir demo``: the README's main command, a live failover you can watch.

It starts a local group from the pinned valkey-server (1 primary, 2 replicas), three gungnir
daemons (each with its own RESP endpoint, peer links over loopback, state directory and
decision log, sharing this process's event loop) and a writer that finds the primary through
the daemons' Sentinel API.  Then it SIGKILLs the primary and prints what happened, in order:
detected, agreed, elected, fenced, promoted, first write on the new primary, with the measured
write unavailability and the number of acknowledged writes the new primary lacks.  Finally
the old primary comes back empty and is turned into a replica.  Everything it started is
stopped by pid before it returns.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import tempfile
import time
from typing import Any

from gungnir import resp
from gungnir.local import LocalGroup, start_group

#: Demo timings: 100 ms probes, 1 s detection (Sentinel's default is 30 s).
DEMO_SETTINGS: dict[str, Any] = {
    "probe_interval": 0.1,
    "down_after": 1.0,
    "report_ttl": 2.0,
    "election_timeout": 1.0,
    "election_jitter": 0.3,
    "fence_after": 0.5,
    "promote_after": 1.0,
    "max_clock_drift": 0.1,
    "failover_timeout": 10.0,
    "probe_timeout": 0.3,
    "action_timeout": 1.0,
}


class Timeline:
    """Collects the first occurrence of each milestone from the daemons' event streams."""

    def __init__(self) -> None:
        self.t_kill: float | None = None
        self.old: str = ""
        self.marks: dict[str, tuple[float, str]] = {}
        self.fences: list[tuple[float, str]] = []

    def _mark(self, key: str, t: float, text: str) -> None:
        if self.t_kill is not None and t >= self.t_kill and key not in self.marks:
            self.marks[key] = (t, text)

    def __call__(self, daemon: str, group: str, item: Any, now: float) -> None:
        from gungnir.core import ActionResult, Fence, Log, Notify, Promote, PublishConfig

        if isinstance(item, Notify):
            if item.event == "+sdown" and item.detail == self.old:
                self._mark("detected", now, f"{daemon} sees {self.old} down (no reply)")
            elif item.event == "+odown":
                self._mark("agreed", now, f"{daemon}: quorum of daemons agree {self.old} is down")
        elif isinstance(item, Log) and item.kind == "leader_elected":
            f = item.as_dict()
            votes = ", ".join(f["voters"])
            self._mark("elected", now, f"{daemon} leads epoch {f['epoch']} (votes: {votes})")
        elif isinstance(item, Fence):
            self._mark("fenced", now, f"{daemon} fences {item.node} ({item.method})")
        elif isinstance(item, ActionResult) and isinstance(item.action, Promote) and item.ok:
            self._mark(
                "promoted", now, f"{item.action.node} promoted (REPLICAOF NO ONE) by {daemon}"
            )
        elif isinstance(item, PublishConfig):
            c = item.config
            self._mark("published", now, f"config epoch {c.epoch}: primary {c.primary}")


def _print_nodes(group: LocalGroup) -> None:
    for node in group.nodes:
        info = node.info()
        role = info.get("role", "?")
        print(f"  {node.name:7} 127.0.0.1:{node.port:<5} pid {node.pid:>7}  {role}")


async def _until(cond: Any, limit: float, every: float = 0.02) -> bool:
    deadline = time.monotonic() + limit
    while not cond():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every)  # polling period of a condition with a deadline
    return True


async def _live(group: LocalGroup, workdir: str) -> int:
    from gungnir.runtime.cluster import InProcessCluster, cluster_docs
    from gungnir.runtime.writer import Writer, count_lost

    nodes = {n.name: (n.host, n.port) for n in group.nodes}
    timeline = Timeline()
    timeline.old = group.primary.name
    docs = cluster_docs(nodes, workdir, settings=DEMO_SETTINGS, group="demo")
    cluster = InProcessCluster(docs, observer=timeline)
    await cluster.start()
    try:
        ok = await _until(
            lambda: (
                cluster.primaries() == {group.primary.name}
                and all(link.up for d in cluster.daemons.values() for link in d.links.values())
            ),
            15,
        )
        if not ok:
            print("daemons did not agree on the primary in 15 s", file=sys.stderr)
            return 1
        ports = [d.port for d in cluster.daemons.values()]
        print(
            f"3 daemons up on ports {', '.join(map(str, ports))}: "
            f"all see {group.primary.name} as primary (detection time 1.0 s)"
        )
        writer = Writer([("127.0.0.1", p) for p in ports], "demo", prefix="demo")
        wtask = asyncio.get_running_loop().create_task(writer.run())
        await _until(lambda: len(writer.acks) >= 200, 10)
        old_addr = (group.primary.host, group.primary.port)
        print(f"writer running: {len(writer.acks)} writes acknowledged so far")
        print(f"\n>>> kill -9 {group.primary.name} (pid {group.primary.pid})\n")
        t_kill = time.monotonic()
        timeline.t_kill = t_kill
        group.primary.kill(signal.SIGKILL)
        done = await _until(
            lambda: (
                writer.first_ack_after(t_kill, not_on=old_addr) is not None
                and len(cluster.primaries()) == 1
                and cluster.primaries() != {group.primary.name}
            ),
            30,
        )
        first = writer.first_ack_after(t_kill, not_on=old_addr)
        if done:
            # Keep writing on the new primary for 100 more acknowledged writes, so the lost
            # count below also covers writes taken after the failover, not only those before
            # the kill.  The target is fixed first: the list grows while we wait.
            target = len(writer.acks) + 100
            await _until(lambda: len(writer.acks) >= target, 5)
        writer.stop()
        await wtask
        if not done or first is None:
            print("no failover within 30 s", file=sys.stderr)
            return 1
        new_name = next(n for n, a in nodes.items() if a == first.node)
        timeline.marks.setdefault(
            "first write", (first.at, f"write #{first.key} acknowledged by {new_name}")
        )
        order = ["detected", "agreed", "elected", "fenced", "promoted", "published", "first write"]
        print("timeline (ms after the kill):")
        last_before = writer.last_ack_before(t_kill)
        if last_before is not None:
            ms = (last_before.at - t_kill) * 1000
            print(f"  {ms:8.1f}  last write acknowledged by {timeline.old} (#{last_before.key})")
        for key in order:
            if key == "fenced" and key not in timeline.marks:
                print(
                    f"  {'':8}  fenced: {timeline.old} is dead (unreachable), nothing to "
                    "fence; promotion waited promote_after since its last reply"
                )
                continue
            if key in timeline.marks:
                t, text = timeline.marks[key]
                print(f"  {(t - t_kill) * 1000:8.1f}  {key:12} {text}")
        unavailable = first.at - (last_before.at if last_before else t_kill)
        lost = await count_lost(first.node, "demo", writer.acks)
        print(
            f"\nwrite unavailability: {(first.at - t_kill) * 1000:.0f} ms from the kill to the "
            f"first acknowledged write on {new_name} ({unavailable * 1000:.0f} ms between "
            "acknowledged writes)"
        )
        print(
            f"acknowledged writes: {len(writer.acks)}, lost: {lost} "
            f"(errors seen by the writer: {writer.errors})"
        )
        print(f"\n>>> restart {timeline.old} empty, as a primary, on its old port")
        group.primary.start()
        t_back = time.monotonic()
        new_port = first.node[1]

        def rejoined() -> bool:
            try:
                info = group.primary.info()
            except Exception:
                return False
            return info.get("role") == "slave" and int(info.get("master_port", 0)) == new_port

        if await _until(rejoined, 20):
            print(
                f"  {(time.monotonic() - t_back) * 1000:8.1f}  {timeline.old} rejoined as a "
                f"replica of {new_name} (never accepted as primary: it came back empty)"
            )
        else:
            print(f"  {timeline.old} did not rejoin within 20 s", file=sys.stderr)
            return 1
        print("\nnodes now:")
        _print_nodes(group)
        return 0
    finally:
        await cluster.stop()


def main(replicas: int = 2, verbose: bool = False) -> int:
    from gungnir.client import run
    from gungnir.runtime.logs import setup_logging

    # The timeline is the output; daemon logs only when asked (or on errors).
    setup_logging("text", "INFO" if verbose else "ERROR")

    print(f"gungnir demo (codec: {resp.IMPLEMENTATION})")
    started = time.monotonic()
    with start_group(replicas=replicas) as group, tempfile.TemporaryDirectory() as tmp:
        print(f"valkey group up in {time.monotonic() - started:.2f}s:")
        _print_nodes(group)
        code = run(_live(group, tmp))  # on uvloop
    print(f"\nstopped every process; demo took {time.monotonic() - started:.1f}s")
    return code


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
