"""One scenario end to end: network, system, workload, fault, heal, convergence, verdict.

The timeline of a run (all times on one monotonic clock starting at 0):

1. build the test network and start the system under test, healthy;
2. start role probes and the workload; wait until writes are acknowledged, then run
   ``warmup_s`` of normal operation;
3. start the nemesis, keep it for ``fault_s``, stop it (heal);
4. keep the workload going until the system converges (bounded by ``max_tail_s``) and then for
   ``settle_s`` more, so that writes still sent to a stale primary after the heal are recorded;
5. stop the clients, wait for final convergence, read the final primary's data, check, and
   write ``history.json`` and ``report.md``.

Everything is torn down in ``finally`` blocks: nemesis healed, threads stopped, processes
stopped by pid, namespaces deleted.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gungnir.faults import report
from gungnir.faults.checker import check
from gungnir.faults.nemesis import Nemesis, Targets
from gungnir.faults.net import TestNet
from gungnir.faults.probe import RoleProber
from gungnir.faults.sut import SystemUnderTest
from gungnir.faults.workload import COUNTER_KEY, SET_KEY, Workload, WorkloadConfig
from gungnir.local import wait_until

__all__ = ["Scenario", "load_history", "recheck", "run_scenario"]

Progress = Callable[[str], None]


@dataclass
class Scenario:
    """A nemesis, how long it lasts, and the system options it runs under."""

    name: str
    nemesis: Callable[[Targets], Nemesis]
    fault_s: float = 15.0
    sut_options: Mapping[str, Any] = field(default_factory=dict)
    description: str = ""
    warmup_s: float = 3.0
    settle_s: float = 3.0
    max_tail_s: float = 45.0
    workload: WorkloadConfig = field(default_factory=WorkloadConfig)


def _hold(seconds: float, label: str, progress: Progress, workload: Workload) -> None:
    """Let the scenario run for ``seconds`` (scenario time, not a wait for a condition)."""
    stop = threading.Event()
    begin = time.monotonic()
    step = 5.0
    while True:
        elapsed = time.monotonic() - begin
        if elapsed >= seconds:
            return
        stop.wait(min(step, seconds - elapsed))
        elapsed = min(time.monotonic() - begin, seconds)
        progress(f"{label} {elapsed:4.0f}/{seconds:.0f} s, acknowledged {workload.ok_count()}")


def run_scenario(
    scenario: Scenario,
    make_sut: Callable[[Mapping[str, Any]], SystemUnderTest],
    results_root: Path,
    progress: Progress = print,
) -> dict[str, Any]:
    """Run one scenario and return its summary (also written under ``results_root``)."""
    sut = make_sut(scenario.sut_options)
    run_dir = results_root / f"{sut.name}-{scenario.name}"
    run_dir.mkdir(parents=True, exist_ok=True)
    record: dict[str, Any] = {
        "scenario": scenario.name,
        "description": scenario.description,
        "sut": sut.describe(),
        "fault_s": scenario.fault_s,
        "workload": {
            "clients": scenario.workload.clients,
            "rate_per_client": scenario.workload.rate,
            "wait": scenario.workload.wait,
            "reconnect_s": scenario.workload.reconnect_s,
        },
        "wall_clock_start": time.time(),
        "events": [],
        "faults": [],
        "errors": [],
    }
    t0 = time.monotonic()

    def clock() -> float:
        return time.monotonic() - t0

    def event(what: str, **detail: Any) -> None:
        record["events"].append({"t": round(clock(), 3), "what": what, **detail})

    workload: Workload | None = None
    prober: RoleProber | None = None
    nemesis: Nemesis | None = None
    with TestNet(sut.host_names()) as net:
        try:
            progress(f"{sut.name} {scenario.name}: starting {len(sut.host_names())} hosts")
            sut.start(net, run_dir / "procs")
            event("healthy", primary=sut.reported_primary())
            targets = Targets(net, sut)
            prober = RoleProber(sut.nodes, clock)
            prober.start()
            budget = scenario.warmup_s + scenario.fault_s + scenario.max_tail_s + 60
            workload = Workload(sut.client, scenario.workload, clock, clock() + budget)
            workload.start()
            wait_until(lambda: workload.ok_count() > 0, timeout=15, what="first acknowledged write")
            _hold(scenario.warmup_s, f"{scenario.name}: warm-up", progress, workload)

            nemesis = scenario.nemesis(targets)
            primary_host = targets.primary_node()
            primary = f"{sut.nodes[primary_host].host}:{sut.nodes[primary_host].port}"
            fault: dict[str, Any] = {"name": nemesis.name, "primary": primary}
            fault["requested"] = round(clock(), 3)
            record["faults"].append(fault)
            nemesis.start()
            # The fault counts from when it is certainly in place, not from when it was asked.
            fault["start"] = round(clock(), 3)
            fault["detail"] = nemesis.detail
            event("fault-start", name=nemesis.name, detail=nemesis.detail)
            _hold(scenario.fault_s, f"{scenario.name}: fault {nemesis.name}", progress, workload)
            nemesis.stop()
            fault["stop"] = round(clock(), 3)
            event("fault-stop", name=nemesis.name)

            progress(f"{scenario.name}: healed; waiting for convergence")
            converged_at = _await_convergence(sut, scenario.max_tail_s)
            if converged_at is not None:
                event("converged", after_heal_s=round(converged_at, 3))
            record["convergence_after_heal_s"] = converged_at
            _hold(scenario.settle_s, f"{scenario.name}: settle", progress, workload)
        except BaseException as exc:
            record["errors"].append(f"run aborted: {exc!r}")
            raise
        finally:
            if nemesis is not None:
                with contextlib.suppress(Exception):
                    nemesis.stop()
            if workload is not None:
                workload.stop()
                record["errors"] += workload.errors
            if prober is not None:
                prober.stop()
            if workload is None:
                record["final"] = {"converged": False, "error": "the system never started"}
            else:
                try:
                    record["final"] = _final_state(sut)
                except Exception as exc:
                    record["final"] = {"converged": False, "error": repr(exc)}
            sut.stop()
            record["ops"] = [op.to_dict() for op in workload.history] if workload else []
            record["probes"] = [s.to_dict() for s in prober.samples] if prober else []
            summary = _write(run_dir, record)
    return summary


def _await_convergence(sut: SystemUnderTest, timeout: float) -> float | None:
    begin = time.monotonic()
    try:
        wait_until(lambda: sut.convergence().ok, timeout=timeout, interval=0.2)
    except TimeoutError:
        return None
    return time.monotonic() - begin


def _final_state(sut: SystemUnderTest) -> dict[str, Any]:
    """After the clients stop: converge (bounded), then read the final primary's data."""
    converged = _await_convergence(sut, 30.0) is not None
    state = sut.convergence()
    address = state.primary or sut.reported_primary()
    out: dict[str, Any] = {"converged": converged, "primary": address, "reasons": state.reasons}
    host = sut.node_host_of(address) if address else None
    if host is None:
        out["error"] = "no primary to read the final data from"
        return out
    node = sut.nodes[host]
    members = node.command("SMEMBERS", SET_KEY, timeout=5)
    counter = node.command("GET", COUNTER_KEY, timeout=5)
    out["members"] = sorted(m.decode() for m in members) if isinstance(members, list) else []
    out["counter"] = int(counter) if isinstance(counter, bytes | bytearray) else None
    return out


def _write(run_dir: Path, record: dict[str, Any]) -> dict[str, Any]:
    """Check the history and write ``history.json`` and ``report.md``; sets the summary."""
    final = record.get("final", {})
    wait = record["workload"]["wait"]
    verdict = check(
        record.get("ops", []),
        record.get("probes", []),
        record["faults"],
        final,
        majority_replicas=wait[0] if wait else None,
    )
    record["verdict"] = verdict
    summary = report.summarize(record)
    summary["run_dir"] = str(run_dir)
    record["summary"] = summary
    (run_dir / "history.json").write_text(json.dumps(record, indent=1, default=str))
    (run_dir / "report.md").write_text(report.run_markdown(record))
    return summary


def load_history(path: Path) -> dict[str, Any]:
    """Read a ``history.json`` back (to re-check or re-report a run offline)."""
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a fault-run history")
    return data


def recheck(path: Path) -> dict[str, Any]:
    """Check a recorded run again (``history.json`` or its directory) and rewrite its report."""
    history = path / "history.json" if path.is_dir() else path
    record = load_history(history)
    return _write(history.parent, record)
