"""Fault campaigns: lists of scenarios, and the command that runs them.

    sudo python -m gungnir.faults.campaign --campaign ci      # 5 scenarios, ~3.5 minutes
    sudo python -m gungnir.faults.campaign --sut all --campaign full   # side by side
    sudo python -m gungnir.faults.campaign --campaign full    # every nemesis, ~12 minutes
    sudo python -m gungnir.faults.campaign --only isolate --results fault-results/
    sudo python -m gungnir.faults.campaign --sut gungnir-consistency --campaign full \
        --only restart-empty-primary --repeat 12     # one rare race, counted
    python -m gungnir.faults.campaign --recheck fault-results/<run>/<sut>-<scenario>

Each scenario prints progress lines (which scenario, which phase, how far, how many writes
acknowledged so far) and writes ``<results>/<sut>-<scenario>/{history.json,report.md}``; the
campaign writes ``summary.md`` and ``summary.json`` beside them and prints the table.

The exit status is 0 when every scenario ran, 1 when one could not run (a harness error), 2
when the replay of Gungnir's decision logs found a step the model forbids, and — with
``--expect-safe`` — 2 when any scenario breaks the consistency policy's acceptance (see
:func:`unsafe`: two writers, a lost WAIT-majority-acknowledged write, or plain losses outside
the lease window; Sentinel fails it by design).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import signal
import sys
import time
import traceback
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from gungnir.faults import nemesis as nm
from gungnir.faults.daemons import GungnirSUT
from gungnir.faults.net import sweep_leftovers, unavailable_reason
from gungnir.faults.report import campaign_markdown
from gungnir.faults.runner import Scenario, recheck, run_scenario
from gungnir.faults.sentinel import SentinelSUT
from gungnir.faults.sut import SystemUnderTest
from gungnir.faults.workload import WorkloadConfig

__all__ = ["CAMPAIGNS", "main", "scenarios"]

MIN_REPLICAS = {"min_replicas_to_write": 1, "min_replicas_max_lag": 10}
#: Gungnir on nodes an operator hardened for Sentinel: the same settings, in the nodes' own
#: config (the daemons must read them back, keep the stricter, lower the max-lag).
HARDENED = {"node_min_replicas_to_write": 1, "node_min_replicas_max_lag": 10}


def _ci() -> list[Scenario]:
    return [
        Scenario(
            "isolate-primary-15s",
            lambda t: nm.Isolate(t),
            fault_s=15,
            description="The primary's machine (node and co-located daemon) is cut from every "
            "other machine for 15 s; clients can still reach it.",
        ),
        Scenario(
            "isolate-primary-15s-minreplicas",
            lambda t: nm.Isolate(t),
            fault_s=15,
            sut_options=MIN_REPLICAS,
            only_for="sentinel",
            description="As isolate-primary-15s, with min-replicas-to-write 1 and "
            "min-replicas-max-lag 10 on every node.",
        ),
        Scenario(
            "isolate-primary-15s-churn",
            lambda t: nm.Isolate(t),
            fault_s=15,
            workload=WorkloadConfig(reconnect_s=5.0),
            description="As isolate-primary-15s, but every client drops its connection every "
            "5 s and asks the Sentinels again (pool churn, new application processes).",
        ),
        Scenario(
            "kill-primary-15s",
            lambda t: nm.Kill(t, "primary"),
            fault_s=15,
            description="kill -9 of the primary; it restarts (empty, no persistence) after 15 s.",
        ),
        Scenario(
            "pause-primary-15s",
            lambda t: nm.Pause(t, "primary"),
            fault_s=15,
            description="SIGSTOP of the primary for 15 s, then SIGCONT.",
        ),
    ]


def _full() -> list[Scenario]:
    wait = WorkloadConfig(wait=(1, 500))
    out = _ci()
    out += [
        Scenario("isolate-primary-30s", lambda t: nm.Isolate(t), fault_s=30),
        Scenario(
            "isolate-primary-30s-minreplicas",
            lambda t: nm.Isolate(t),
            fault_s=30,
            sut_options=MIN_REPLICAS,
            only_for="sentinel",
        ),
        Scenario(
            "isolate-primary-15s-hardened",
            lambda t: nm.Isolate(t),
            fault_s=15,
            sut_options=HARDENED,
            only_for="gungnir",
            description="As isolate-primary-15s, on nodes that carry min-replicas-to-write 1 "
            "and min-replicas-max-lag 10 in their own config (a hardened Sentinel setup).",
        ),
        Scenario(
            "wrong-secret-daemon-15s",
            lambda t: nm.WrongSecret(t),
            fault_s=15,
            only_for="gungnir",
            description="A replica's daemon restarts with a wrong peer secret for 15 s: its "
            "peers refuse it, and it must not fence the healthy primary.",
        ),
        Scenario(
            "isolate-primary-15s-wait",
            lambda t: nm.Isolate(t),
            fault_s=15,
            workload=wait,
            description="Every SADD is followed by WAIT 1 500 (a majority of the group).",
        ),
        Scenario(
            "isolate-primary-node-only-15s",
            lambda t: nm.Isolate(t, with_daemon=False),
            fault_s=15,
            description="Only the primary node is cut; its co-located daemon stays connected.",
        ),
        Scenario(
            "link-down-primary-15s",
            lambda t: nm.LinkDown(t),
            fault_s=15,
            description="The primary machine's link goes down: clients lose it too.",
        ),
        Scenario(
            "bridge-15s",
            lambda t: nm.Bridge(t),
            fault_s=15,
            description="Primary and one replica machine cannot talk; the third sees both.",
        ),
        Scenario(
            "split-halves-15s",
            lambda t: nm.Partition(
                "split-halves",
                t,
                lambda: [
                    t.machine(t.replica_nodes()[0]),
                    t.everyone_but(t.machine(t.replica_nodes()[0])),
                ],
            ),
            fault_s=15,
            description="One replica machine against the primary and the other replica.",
        ),
        Scenario("kill-primary-daemon-15s", lambda t: nm.Kill(t, "primary-daemon"), fault_s=15),
        Scenario("pause-primary-5s", lambda t: nm.Pause(t, "primary"), fault_s=5),
        Scenario("pause-primary-daemon-15s", lambda t: nm.Pause(t, "primary-daemon"), fault_s=15),
        Scenario("loss-30pct-primary-20s", lambda t: nm.PacketLoss(t, 30), fault_s=20),
        Scenario("delay-200ms-primary-20s", lambda t: nm.Delay(t, 200, 50), fault_s=20),
        Scenario(
            "flap-isolate-primary-30s",
            lambda t: nm.Flap(nm.Isolate(t), period=2.0),
            fault_s=30,
            description="Isolation of the (current) primary toggled every 2 s for 30 s.",
        ),
        Scenario(
            "restart-empty-primary",
            lambda t: nm.RestartEmpty(t, "primary"),
            fault_s=10,
            description="The primary restarts at once with an empty dataset (the wipe case).",
        ),
        Scenario("rolling-restart", lambda t: nm.RollingRestart(t), fault_s=30),
    ]
    return out


CAMPAIGNS: dict[str, Callable[[], list[Scenario]]] = {"ci": _ci, "full": _full}


def _gungnir(policy: str) -> Callable[[Mapping[str, Any]], SystemUnderTest]:
    def make(options: Mapping[str, Any]) -> SystemUnderTest:
        return GungnirSUT({**options, "policy": policy})

    return make


SUTS: dict[str, Callable[[Mapping[str, Any]], SystemUnderTest]] = {
    "sentinel": SentinelSUT,
    "gungnir-availability": _gungnir("availability"),
    "gungnir-consistency": _gungnir("consistency"),
}
#: ``--sut all``: the side-by-side table, baseline first.
ALL_SUTS = ("sentinel", "gungnir-availability", "gungnir-consistency")


def applies(scenario: Scenario, sut: str) -> bool:
    """Whether ``scenario`` runs against ``sut`` (Sentinel-only knobs are skipped elsewhere)."""
    return scenario.only_for is None or sut.startswith(scenario.only_for)


def unsafe(row: Mapping[str, Any]) -> str:
    """Why a summary row fails the acceptance gate (``--expect-safe``), or ``""``.

    The gate is issue 8's acceptance for the consistency policy: no two-writer interval, no
    write acknowledged with WAIT by a majority lost, and plain acknowledged writes lost only
    inside the documented lease window. A system without a lease (Sentinel, Gungnir's
    availability policy) passes only if it lost nothing at all.
    """
    reasons = []
    if row.get("two_writer_s"):
        reasons.append(f"two writers for {row['two_writer_s']} s")
    if row.get("wait_acked_lost"):
        reasons.append(f"{row['wait_acked_lost']} WAIT-majority-acknowledged writes lost")
    lease = row.get("lease_s")
    if row.get("lost") and (lease is None or row.get("lost_window_s", 0) > lease):
        window = row.get("lost_window_s")
        reasons.append(
            f"{row['lost']} acknowledged writes lost over {window} s"
            + (f" (lease {lease} s)" if lease is not None else "")
        )
    return "; ".join(reasons)


def scenarios(campaign: str, only: Sequence[str] = ()) -> list[Scenario]:
    chosen = CAMPAIGNS[campaign]()
    if only:
        chosen = [s for s in chosen if any(word in s.name for word in only)]
    return chosen


def repeated(chosen: Sequence[Scenario], times: int) -> list[Scenario]:
    """Each scenario ``times`` times in a row, renamed ``NAME-rI`` so every run keeps its own
    results directory (one run of a rare race proves little; ``--repeat`` counts it)."""
    if times == 1:
        return list(chosen)
    return [
        dataclasses.replace(s, name=f"{s.name}-r{i}") for s in chosen for i in range(1, times + 1)
    ]


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gungnir.faults.campaign",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sut",
        action="append",
        choices=[*sorted(SUTS), "all"],
        help="system under test (repeatable; 'all' = sentinel and both Gungnir policies, "
        "side by side per scenario); default sentinel",
    )
    parser.add_argument("--campaign", choices=sorted(CAMPAIGNS), default="ci")
    parser.add_argument("--only", action="append", default=[], help="scenario name substring")
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        metavar="N",
        help="run every chosen scenario N times (names get -r1..-rN), for rare races",
    )
    parser.add_argument("--results", type=Path, default=Path("fault-results"))
    parser.add_argument("--list", action="store_true", help="list the scenarios and exit")
    parser.add_argument(
        "--recheck",
        type=Path,
        nargs="+",
        metavar="RUN",
        help="check recorded runs (history.json or its directory) again; runs nothing",
    )
    parser.add_argument(
        "--expect-safe",
        action="store_true",
        help="exit 2 on a two-writer interval, a lost WAIT-majority-acknowledged write, or "
        "acknowledged writes lost outside the lease window (any loss without a lease)",
    )
    args = parser.parse_args(argv)
    suts: list[str] = []
    for name in args.sut or ["sentinel"]:
        for one in ALL_SUTS if name == "all" else (name,):
            if one not in suts:
                suts.append(one)

    if args.recheck:
        rechecked = [recheck(path) for path in args.recheck]
        print(campaign_markdown("re-checked runs", rechecked, "--recheck"))
        return 0
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    chosen = repeated(scenarios(args.campaign, args.only), args.repeat)
    runs = [(s, sut) for s in chosen for sut in suts if applies(s, sut)]
    if args.list or not runs:
        for s, sut in runs:
            extra = {
                k: v for k, v in vars(s.workload).items() if k in ("wait", "reconnect_s") and v
            }
            print(
                f"{sut:21} {s.name:34} fault {s.fault_s:2g} s  "
                f"{dict(s.sut_options) or ''} {extra or ''}"
            )
        return 0 if runs else 1
    reason = unavailable_reason()
    if reason:
        print(f"cannot run: {reason}", file=sys.stderr)
        return 1
    signal.signal(signal.SIGTERM, _raise_interrupt)
    swept = sweep_leftovers()
    if swept:
        print(f"removed leftovers of an earlier run: {swept}")

    stamp = time.strftime("%Y%m%d-%H%M%S")
    label = "all" if len(suts) == len(ALL_SUTS) else "+".join(suts)
    root = args.results / f"{label}-{args.campaign}-{stamp}"
    root.mkdir(parents=True, exist_ok=True)
    began = time.monotonic()
    rows: list[dict[str, Any]] = []
    status = 0
    for index, (scenario, sut) in enumerate(runs, start=1):

        def progress(line: str, index: int = index) -> None:
            elapsed = time.monotonic() - began
            print(f"[{index}/{len(runs)} {elapsed:5.0f}s] {line}", flush=True)

        progress(f"{sut} {scenario.name}: {scenario.description or 'running'}")
        try:
            row = run_scenario(scenario, SUTS[sut], root, progress)
        except KeyboardInterrupt:
            print("interrupted; everything started has been stopped", file=sys.stderr)
            return 130
        except Exception as exc:
            traceback.print_exc()
            rows.append({"sut": sut, "scenario": scenario.name, "error": repr(exc)})
            status = 1
            continue
        rows.append(row)
        progress(
            f"{scenario.name}: lost {row['lost']} of {row['sadd_acked']} acked SADDs "
            f"(window {row['lost_window_s']:.1f} s), two-writer {row['two_writer_s']:.1f} s, "
            f"failover {row['failover_s']} s, converged {row['converged']}, "
            f"trace {row.get('trace', '—')}"
        )
        if row.get("trace_ok") is False:
            print(f"FORBIDDEN STEP in the decision logs of {row['run_dir']}", file=sys.stderr)
            status = max(status, 2)
        broken = unsafe(row)
        if args.expect_safe and broken:
            print(f"NOT SAFE: {row['sut']} {row['scenario']}: {broken}", file=sys.stderr)
            status = max(status, 2)
    command = "python -m gungnir.faults.campaign " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    title = f"{', '.join(suts)} — {args.campaign} campaign ({stamp})"
    text = campaign_markdown(title, rows, command.strip())
    (root / "summary.md").write_text(text)
    (root / "summary.json").write_text(json.dumps(rows, indent=1, default=str))
    print(text)
    print(f"results in {root}")
    return status


if __name__ == "__main__":
    sys.exit(main())
