"""Measure Valkey's real write lease: how long a primary with ``min-replicas-to-write`` keeps
accepting writes after a cut from its replicas, while a client can still reach it.

Why this exists: Gungnir's consistency policy leans on that lease (``min_replicas_max_lag +
lease_margin + max_clock_drift``). Valkey counts a replica's lag in whole seconds
(``unixtime - last ack``, good while ``<= min-replicas-max-lag``) and refreshes its count of
good replicas about once a second, so the real lease is longer than ``min-replicas-max-lag``
by up to about two seconds. This tool measures it on the machine at hand, so that
``lease_margin`` can be chosen from data. No daemon is involved: one primary, two replicas,
one cut (the same test network as the fault campaign).

    python -m gungnir.faults.leaseprobe --max-lag 2 --cuts 12
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Sequence
from functools import partial

from gungnir.faults.net import TestNet, unavailable_reason
from gungnir.faults.sut import VALKEY_PORT
from gungnir.local import ValkeyProcess, wait_until

__all__ = ["main", "measure"]


def _linked(replica: ValkeyProcess) -> bool:
    return replica.info().get("master_link_status") == "up"


def _writable(primary: ValkeyProcess) -> bool:
    return isinstance(primary.command("SADD", "gnf:lease", "probe", timeout=1), int)


def measure(max_lag: int, cuts: int, hold_s: float = 6.0) -> list[float]:
    """Seconds from each cut to the last write the isolated primary acknowledged."""
    out: list[float] = []
    with TestNet(["a", "b", "c"]) as net:
        nodes = {
            h: ValkeyProcess(
                host=net.hosts[h].address, port=VALKEY_PORT, name=h, launcher=net.hosts[h].launcher
            ).start()
            for h in "abc"
        }
        try:
            primary = nodes["a"]
            for h in "bc":
                nodes[h].replicaof(primary)
            primary.command(
                "CONFIG", "SET", "min-replicas-to-write", "1", "min-replicas-max-lag", str(max_lag)
            )
            for i in range(cuts):
                for h in "bc":
                    wait_until(partial(_linked, nodes[h]), timeout=30, what=f"{h} linked")
                wait_until(partial(_writable, primary), timeout=30, what="the primary writable")
                # Writes confirmed with WAIT (as the campaign's consistency workload does) for a
                # varying time, so the cut falls at different phases of Valkey's 1 s clock.
                until = time.monotonic() + 1.0 + (i * 0.37) % 1.0
                while time.monotonic() < until:
                    primary.command("SADD", "gnf:lease", f"w{time.monotonic()}")
                    primary.command("WAIT", "1", "100")
                pairs = net.block(["a"], ["b", "c"])
                cut = time.monotonic()
                last = 0.0
                while time.monotonic() - cut < hold_s:  # bounded by hold_s
                    reply = primary.command("SADD", "gnf:lease", f"c{time.monotonic()}", timeout=1)
                    if isinstance(reply, int):
                        last = time.monotonic() - cut
                    time.sleep(0.01)  # the probe's write rate, not a wait for a condition
                net.unblock(pairs)
                out.append(round(last, 3))
        finally:
            for node in nodes.values():
                node.stop()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gungnir.faults.leaseprobe", description=__doc__
    )
    parser.add_argument("--max-lag", type=int, default=2, help="min-replicas-max-lag (seconds)")
    parser.add_argument("--cuts", type=int, default=12, help="how many cuts to measure")
    args = parser.parse_args(argv)
    reason = unavailable_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    windows = measure(args.max_lag, args.cuts)
    print(f"min-replicas-max-lag {args.max_lag}: writes acknowledged after the cut for")
    print(f"  {sorted(windows)} s")
    print(
        f"  min {min(windows):.2f} s, mean {statistics.mean(windows):.2f} s, "
        f"max {max(windows):.2f} s (Valkey's bound: about max-lag + 2 = {args.max_lag + 2} s)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
