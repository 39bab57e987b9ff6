"""One scenario end to end: network, system, workload, fault, heal, convergence, verdict.

The timeline of a run (all times on one monotonic clock starting at 0):

1. build the test network and start the system under test, healthy;
2. start role probes and the workload; wait until writes are acknowledged, then run
   ``warmup_s`` of normal operation;
3. start the nemesis, keep it for ``fault_s``, stop it (heal);
4. keep the workload going until the system converges (bounded by ``max_tail_s``) and then for
   ``settle_s`` more, so that writes still sent to a stale primary after the heal are recorded;
5. stop the clients, wait for final convergence, read the final primary's data, check, and
   write ``history.json`` and ``report.md``;
6. if the system keeps decision logs (Gungnir's daemons), merge them on their shared monotonic
   clock into ``decisions.jsonl`` and replay it through :mod:`gungnir.verify.trace`: a step the
   model forbids fails the run (``trace.ok`` false in the history, the report and the summary).

Everything is torn down in ``finally`` blocks: nemesis healed, threads stopped, processes
stopped by pid, namespaces deleted.
"""

from __future__ import annotations

import contextlib
import dataclasses
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
from gungnir.verify.trace import check_trace_file

__all__ = ["Scenario", "load_history", "merge_decision_logs", "recheck", "run_scenario"]

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
    #: Only for this system (``sentinel``): scenarios whose options mean nothing to the others.
    only_for: str | None = None


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
    workload_config = scenario.workload
    if workload_config.wait is None and sut.workload_wait() is not None:
        workload_config = dataclasses.replace(workload_config, wait=sut.workload_wait())
    record: dict[str, Any] = {
        "scenario": scenario.name,
        "description": scenario.description,
        "sut": sut.describe(),
        "fault_s": scenario.fault_s,
        "workload": {
            "clients": workload_config.clients,
            "rate_per_client": workload_config.rate,
            "wait": workload_config.wait,
            "reconnect_s": workload_config.reconnect_s,
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
            workload = Workload(sut.client, workload_config, clock, clock() + budget)
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
            logs = sut.decision_logs()
            if logs:
                record["trace"] = replay_decisions(logs, run_dir / "decisions.jsonl")
            summary = _write(run_dir, record)
    return summary


def merge_decision_logs(logs: list[Path], out: Path) -> int:
    """Merge several daemons' decision logs into ``out``, ordered by each line's ``t``.

    The daemons run on one machine, so their ``t`` (the ``now`` their core was given: the
    kernel's monotonic clock) is one clock: a grant is logged before the election that counts
    it. Ties keep each file's own order. Lines that are not JSON objects with a numeric ``t``
    are kept (at the end) so the checker reports them as malformed instead of their vanishing.
    """
    timed: list[tuple[float, int, int, str]] = []
    bad: list[str] = []
    for index, path in enumerate(logs):
        if not path.exists():
            continue
        for line_no, text in enumerate(path.read_text(errors="replace").splitlines()):
            if not text.strip():
                continue
            try:
                t = json.loads(text)["t"]
                timed.append((float(t), index, line_no, text))
            except (ValueError, KeyError, TypeError):
                bad.append(text)
    timed.sort()
    lines = [text for *_, text in timed] + bad
    out.write_text("".join(line + "\n" for line in lines))
    return len(lines)


def replay_decisions(logs: list[Path], merged: Path) -> dict[str, Any]:
    """Replay the daemons' decisions through the abstract model; the verdict for the history."""
    missing = [str(p) for p in logs if not p.exists()]
    count = merge_decision_logs(logs, merged)
    report = check_trace_file(merged)
    failure = report.failure
    return {
        "ok": report.ok and count > 0 and not missing,
        "file": merged.name,
        "lines": count,
        "missing_logs": missing,
        "summary": report.summary(),
        "kinds": dict(report.kinds),
        "leaders": report.leaders,
        "highest_epoch": report.max_epoch,
        "failure": None
        if failure is None
        else {
            "line_no": failure.line_no,
            "line": failure.line,
            "rule": failure.rule,
            "message": failure.message,
            "malformed": failure.malformed,
        },
    }


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
