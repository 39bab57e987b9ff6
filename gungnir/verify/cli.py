"""``gungnir verify``: run the exhaustive model checker from the command line.

``--scope voter-change`` runs the voter-change explorations of :mod:`.reconfig`.
``--scope drift`` checks Convergence from every drifted arrangement of the nodes (:mod:`.drift`).
``--scope default`` (the default) runs the complete ``default`` scope and then the
breadth-first ``prefix`` of the full-fault scope (see :mod:`.scopes`); other names run one
scope.  Exit status: 0 when every scope was explored (completely, or up to the scope's own
breadth-first state budget) with no violation, 1 on a violation or convergence failure (the
shortest counterexample is printed as a timeline), 2 when a command-line state or time limit
stopped an exploration early, 64 for bad arguments.

``--mutant M`` runs the same scopes with the same budgets, only with the mutant's rules
(:mod:`.mutants`): exit status 1 when a violation is found (the mutant is caught), 3 when
every scope ran without one (the checker missed the mutant).
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
from collections.abc import Callable
from typing import TextIO

from gungnir.core import AVAILABILITY, CONSISTENCY, Rules
from gungnir.progress import Progress
from gungnir.verify.explore import explore
from gungnir.verify.invariants import default_invariants
from gungnir.verify.mutants import mutants
from gungnir.verify.scopes import CATCHES, SCOPES, suite
from gungnir.verify.traces import decision_log
from gungnir.verify.world import Model, Scope


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="gungnir verify",
        description="Explore every interleaving of a bounded scope, driving the real core.",
    )
    p.add_argument(
        "--scope",
        choices=[*sorted(SCOPES), "voter-change", "drift"],
        default="default",
        help="voter-change: every joint-consensus exploration and random walk of "
        "docs/voter-changes.md (a model of its own: the other options do not apply)",
    )
    p.add_argument("--policy", choices=("availability", "consistency"), default=None)
    p.add_argument(
        "--mutant",
        choices=[m.name for m in mutants()],
        default=None,
        help="check a deliberately broken core instead (expects a violation)",
    )
    p.add_argument("--max-states", type=int, default=None)
    p.add_argument("--time-limit", type=float, default=None, help="seconds")
    p.add_argument("--no-symmetry", action="store_true")
    p.add_argument(
        "--no-reduce",
        action="store_true",
        help="fingerprint every field (no reductions beyond symmetry and time shifts)",
    )
    p.add_argument(
        "--rounds",
        choices=("each", "phase", "phase-one"),
        default=None,
        help="override how daemon rounds interleave (each: freely; phase: in phase, every "
        "order; phase-one: in phase, one order)",
    )
    p.add_argument(
        "--trace-out",
        default=None,
        help="write the counterexample's decision log (JSON lines) here",
    )
    p.add_argument("--quiet", action="store_true")
    return p


_REPORT = re.compile(r"(\d+) states, depth (\d+)")


def _feed(bar: Progress, out: TextIO) -> Callable[[str], None]:
    """Turn the explorer's report lines into numbers for ``bar``.

    The explorer reports as text (``"N states, depth D, Ts"``); the numbers drive the live
    line. A line that does not parse is shown as it is rather than dropped.
    """

    def feed(line: str) -> None:
        m = _REPORT.search(line)
        if m is None:
            bar.done()
            print("  ..." + line, file=out, flush=True)
            return
        bar.update(int(m.group(1)), int(m.group(2)))

    return feed


def main(argv: list[str]) -> int:
    """Entry point; ``argv`` excludes the program name."""
    try:
        args = _parser().parse_args(argv)
    except SystemExit as exc:
        return 0 if exc.code == 0 else 64
    if args.scope == "voter-change":
        from gungnir.verify import reconfig

        return reconfig.main()
    if args.scope == "drift":
        return _drift(args)
    # a mutant runs the very scopes and budgets of the suite, only with its rules: the
    # suite CI runs is what must catch it (a scope written for one mutant proves less)
    rules = None
    if args.mutant:
        rules = next(m for m in mutants() if m.name == args.mutant).rules
    names = suite(args.scope)
    if args.mutant:  # the scope known to catch it first: a caught mutant costs seconds
        names = tuple(sorted(names, key=lambda n: n != CATCHES.get(args.mutant)))
    worst = 0
    for name in names:
        rc = _run(args, SCOPES[name], rules)
        if rc == 1:
            return 1
        worst = max(worst, rc)
    if args.mutant:
        print(f"mutant {args.mutant} NOT caught by scope {args.scope}", flush=True)
        return 3
    return worst


def _drift(args: argparse.Namespace) -> int:
    """``--scope drift``: Convergence from every drifted arrangement of the nodes (both
    policies, or ``--policy``) on the ``default`` scope's 3 daemons x 3 nodes."""
    from gungnir.verify.drift import check_drift

    worst = 0
    for policy in [args.policy] if args.policy else [CONSISTENCY, AVAILABILITY]:
        res = check_drift(Model(dataclasses.replace(SCOPES["default"], policy=policy)))
        print(f"gungnir verify: policy {policy}: {res.summary()}", flush=True)
        worst = max(worst, 0 if res.ok else 1)
    return worst


def _run(args: argparse.Namespace, scope: Scope, rules: Rules | None) -> int:
    if args.policy:
        scope = dataclasses.replace(scope, policy=args.policy)
    if args.no_symmetry:
        scope = dataclasses.replace(scope, symmetry=False)
    if args.no_reduce:
        scope = dataclasses.replace(scope, reduce=False)
    if args.rounds:
        scope = dataclasses.replace(scope, rounds=args.rounds)
    model = Model(scope) if rules is None else Model(scope, rules)
    out = sys.stdout
    bar = None if args.quiet else Progress(out)
    print(
        f"gungnir verify: scope {scope.name}: {len(scope.daemons)} daemons x "
        f"{len(scope.nodes)} nodes, policy {scope.policy}, crashes<={scope.crashes}, "
        f"partitions<={scope.partitions}, duplicates<={scope.duplicates}, "
        f"writes<={scope.writes}, epochs<={scope.max_epoch}, rounds {scope.rounds}"
        + (f", mutant {args.mutant}" if args.mutant else ""),
        file=out,
        flush=True,
    )
    res = explore(
        model,
        default_invariants(scope.policy),
        max_states=args.max_states,
        time_limit=args.time_limit,
        progress=None if bar is None else _feed(bar, out),
    )
    if bar is not None:
        bar.done()
    print(res.summary(), file=out, flush=True)
    bad = res.violation or res.convergence_failure
    if bad is not None:
        print(bad.timeline, file=out)
        if args.trace_out:
            with open(args.trace_out, "w", encoding="utf-8") as f:
                for line in decision_log(model, bad.labels):
                    f.write(line + "\n")
            print(f"decision log written to {args.trace_out}", file=out)
        return 1
    if res.complete or (scope.max_states and res.states >= scope.max_states):
        return 0  # complete, or the scope's own breadth-first budget (a bounded claim)
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main(sys.argv[1:]))
