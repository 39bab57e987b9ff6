"""Trace validation: replay a JSON-lines decision log through the abstract model.

The runtime (and the model checker) write every decision of the core as one JSON object per
line - the kinds of the shared decision-log contract: header, epoch_adopted, vote_granted,
leader_elected, config_published, restarted, fenced, promoted, repointed.  This module groups
the lines by `group`, starts each group from its header's voter set, and feeds every line to
the transitions of `gungnir.verify.abstract`.  The first step the model forbids is reported
with its line number, the line itself and the rule it breaks; a malformed line (bad JSON, an
unknown kind, a missing or mistyped field) is reported the same way and never skipped, so a
log the checker cannot read can never pass as valid.

The log must list events in an order consistent with causality, as the model checker's traces
and a single daemon's log are: a grant is logged (after it is persisted) before the leader that
counts it logs its election.

    python -m gungnir.verify.trace decisions.jsonl [more.jsonl ...]
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gungnir.verify import abstract as ab

__all__ = [
    "KINDS",
    "MALFORMED",
    "TraceFailure",
    "TraceReport",
    "check_trace_file",
    "check_trace_lines",
]

KINDS = (
    "header",
    "epoch_adopted",
    "vote_granted",
    "leader_elected",
    "config_published",
    "restarted",
    "fenced",
    "promoted",
    "repointed",
    "voters_changed",
)

# Rules for lines the checker cannot interpret (all with `malformed=True`).
MALFORMED = "MalformedLine"
UNKNOWN_KIND = "UnknownKind"
MISSING_HEADER = "MissingHeader"
FIXED_VOTER_SET = "FixedVoterSet"


@dataclass(frozen=True)
class TraceFailure:
    """The first line the checker rejects: a step the model forbids, or an unreadable line."""

    line_no: int
    line: str
    rule: str
    message: str
    malformed: bool = False

    def __str__(self) -> str:
        what = "malformed line" if self.malformed else "forbidden step"
        return f"line {self.line_no}: {what}, {self.rule}: {self.message}\n    {self.line}"


@dataclass
class TraceReport:
    """The outcome of a replay: `ok`, counts of what was replayed, and the first failure."""

    source: str
    lines: int = 0
    kinds: dict[str, int] = field(default_factory=dict)
    states: dict[str, ab.AbstractState] = field(default_factory=dict)
    failure: TraceFailure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None

    @property
    def groups(self) -> int:
        return len(self.states)

    @property
    def leaders(self) -> int:
        return sum(len(s.leaders) for s in self.states.values())

    @property
    def configs(self) -> int:
        return sum(len(s.configs) for s in self.states.values())

    @property
    def max_epoch(self) -> int:
        return max((e for s in self.states.values() for _, e in s.epochs), default=0)

    def summary(self) -> str:
        counts = ", ".join(f"{k}={v}" for k, v in sorted(self.kinds.items()))
        head = (
            f"{self.source}: {self.lines} lines, {self.groups} groups, {self.leaders} leaders, "
            f"{self.configs} configs, highest epoch {self.max_epoch} ({counts or 'empty'})"
        )
        if self.failure is None:
            return head + ": OK"
        return head + f": FAILED at {self.failure}"


class _Bad(Exception):
    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


def _field(rec: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    if name not in rec:
        raise _Bad(MALFORMED, f"{rec.get('kind', '?')} line has no {name!r} field")
    value = rec[name]
    # bool is an int in Python, but never a valid epoch, time or name.
    if isinstance(value, bool) or not isinstance(value, kind):
        raise _Bad(MALFORMED, f"field {name!r} has the wrong type: {value!r}")
    return value


def _name(rec: dict[str, Any], name: str) -> str:
    value: str = _field(rec, name, str)
    if not value:
        raise _Bad(MALFORMED, f"field {name!r} is empty")
    return value


def _epoch(rec: dict[str, Any]) -> int:
    value: int = _field(rec, "epoch", int)
    if value < 0:
        raise _Bad(MALFORMED, f"epoch {value} is negative")
    return value


def _names(rec: dict[str, Any], name: str) -> list[str]:
    value: list[Any] = _field(rec, name, list)
    if not all(isinstance(x, str) and x for x in value):
        raise _Bad(MALFORMED, f"field {name!r} must be a list of non-empty names: {value!r}")
    return value


def _parse(text: str) -> dict[str, Any]:
    try:
        rec = json.loads(text)
    except json.JSONDecodeError as exc:
        raise _Bad(MALFORMED, f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(rec, dict):
        raise _Bad(MALFORMED, "a decision line must be a JSON object")
    kind = _field(rec, "kind", str)
    if kind not in KINDS:
        raise _Bad(UNKNOWN_KIND, f"unknown kind {kind!r} (known: {', '.join(KINDS)})")
    _name(rec, "daemon")
    _name(rec, "group")
    t = _field(rec, "t", (int, float))
    if not math.isfinite(t):
        raise _Bad(MALFORMED, f"field 't' is not a finite number: {t!r}")
    return rec


def _apply(s: ab.AbstractState, rec: dict[str, Any]) -> ab.AbstractState:
    """One decision through the abstract model; raises ModelViolation or _Bad."""
    kind, daemon = rec["kind"], rec["daemon"]
    if kind == "epoch_adopted":
        return ab.adopt_epoch(s, daemon, _epoch(rec))
    if kind == "vote_granted":
        return ab.grant_vote(s, daemon, _epoch(rec), _name(rec, "candidate"))
    if kind == "leader_elected":
        epoch, counted = _epoch(rec), frozenset(_names(rec, "voters"))
        return ab.take_leadership(s, daemon, epoch, counted)
    if kind == "config_published":
        epoch, primary = _epoch(rec), _name(rec, "primary")
        _names(rec, "replicas")
        return ab.publish_config(s, daemon, epoch, primary)
    if kind == "restarted":
        epoch = _epoch(rec)
        if "vote" not in rec:
            raise _Bad(MALFORMED, "restarted line has no 'vote' field (null for none)")
        vote = None if rec["vote"] is None else _name(rec, "vote")
        return ab.restart(s, daemon, epoch, vote)
    if kind == "promoted":
        ab.check_promote(s, daemon, _epoch(rec), _name(rec, "node"))
        return s
    if kind == "repointed":
        epoch, node = _epoch(rec), _name(rec, "node")
        ab.check_repoint(s, daemon, epoch, node, _name(rec, "primary"))
        return s
    if kind == "fenced":
        # Fencing is always allowed (minority-side fencing needs no leadership); it is only
        # checked for shape.
        _epoch(rec)
        _name(rec, "node")
        return s
    if kind == "voters_changed":
        # A daemon's durable voter view moved (joint consensus, docs/voter-changes.md).  The
        # abstract model's voter set is fixed, so this is checked for shape only: a log that
        # spans a committed change reports the new set's leaders under LeaderHasMajority.
        _names(rec, "voters")
        _names(rec, "next_voters")
        vepoch = _field(rec, "voters_epoch", int)
        if vepoch < 0:
            raise _Bad(MALFORMED, f"voters_epoch must be >= 0, got {vepoch}")
        return s
    raise AssertionError(f"unhandled kind {kind}")  # pragma: no cover - KINDS is exhaustive


def _bootstrap_primary(bootstrap: dict[str, str], group: str, rec: dict[str, Any]) -> None:
    """Epoch 0's config is not elected (it comes from configuration or observation), so the
    abstract state has no record of it; every epoch-0 promotion and repoint of a group must
    still name one and the same primary, or two daemons are reconciling towards two."""
    name = _name(rec, "node") if rec["kind"] == "promoted" else _name(rec, "primary")
    first = bootstrap.setdefault(group, name)
    if first != name:
        raise ab.ModelViolation(
            ab.CONFIG_UNIQUENESS,
            f"epoch-0 actions name two primaries: {first} earlier, {name} here",
        )


def _size(s: ab.AbstractState) -> int:
    return len(s.votes) + len(s.leaders) + len(s.configs) + len(s.epochs)


class _Audit:
    """Defence in depth for one group: the state invariants are re-evaluated behind the
    transitions, so a transition that wrongly allowed a step still cannot make a log pass.

    Evaluating them costs time proportional to the state, which only grows, so checking after
    every line would make long logs quadratic.  Instead a check runs once the steps since the
    last good check number at least an eighth of the state's size (every step while the state
    is small), which is constant amortised work per line; a failing check replays those steps
    one by one from the last good state to name the first line at fault.
    """

    def __init__(self, state: ab.AbstractState) -> None:
        self.good = state
        self.pending: list[tuple[int, str, dict[str, Any]]] = []

    def add(self, line_no: int, text: str, rec: dict[str, Any]) -> None:
        self.pending.append((line_no, text, rec))

    def due(self, state: ab.AbstractState) -> bool:
        return len(self.pending) * 8 >= _size(state)

    def check(self, state: ab.AbstractState) -> TraceFailure | None:
        if not self.pending:
            return None
        if not ab.describe_violations(state):
            self.good = state
            self.pending.clear()
            return None
        s = self.good
        for line_no, text, rec in self.pending:
            s = _apply(s, rec)
            broken = ab.describe_violations(s)
            if broken:
                rule, message = broken[0]
                return TraceFailure(line_no, text, rule, message, False)
        raise AssertionError("a replayed run reached a different state")  # pragma: no cover


def _first(
    failure: TraceFailure | None, audits: dict[str, _Audit], states: dict[str, ab.AbstractState]
) -> TraceFailure | None:
    """The earliest of `failure` and every group's pending audit failure."""
    found = [f for f in (a.check(states[g]) for g, a in audits.items()) if f is not None]
    if failure is not None:
        found.append(failure)
    return min(found, key=lambda f: f.line_no, default=None)


def check_trace_lines(lines: Iterable[str | bytes], source: str = "<trace>") -> TraceReport:
    """Replay `lines` (text or bytes, one decision each; blank lines ignored) and report the
    first failure, or success with counts."""
    report = TraceReport(source)
    states = report.states
    audits: dict[str, _Audit] = {}
    bootstrap: dict[str, str] = {}
    for line_no, raw in enumerate(lines, start=1):
        try:
            text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        except UnicodeDecodeError as exc:
            bad_bytes = TraceFailure(
                line_no, repr(raw[:200]), MALFORMED, f"not UTF-8 ({exc.reason})", True
            )
            report.failure = _first(bad_bytes, audits, states)
            return report
        text = text.strip()
        if not text:
            continue
        report.lines += 1
        try:
            rec = _parse(text)
            kind, group = rec["kind"], rec["group"]
            report.kinds[kind] = report.kinds.get(kind, 0) + 1
            if kind == "header":
                voters = _names(rec, "voters")
                if not voters or len(set(voters)) != len(voters):
                    raise _Bad(MALFORMED, f"header needs distinct voters, got {voters!r}")
                known = states.get(group)
                if known is None:
                    states[group] = ab.initial_state(voters)
                    audits[group] = _Audit(states[group])
                elif known.voters != frozenset(voters):
                    raise _Bad(
                        FIXED_VOTER_SET,
                        f"group {group!r} was declared with voters {sorted(known.voters)}; "
                        f"the voter set is fixed",
                    )
                continue
            if group not in states:
                raise _Bad(MISSING_HEADER, f"group {group!r} has no header line before this one")
            if kind in ("promoted", "repointed") and _epoch(rec) == 0:
                _bootstrap_primary(bootstrap, group, rec)
            new = _apply(states[group], rec)
            if new is not states[group]:
                states[group] = new
                audit = audits[group]
                audit.add(line_no, text, rec)
                if audit.due(new):
                    found = audit.check(new)
                    if found is not None:
                        report.failure = _first(found, audits, states)
                        return report
        except _Bad as bad:
            failure = TraceFailure(line_no, text, bad.rule, bad.message, True)
            report.failure = _first(failure, audits, states)
            return report
        except ab.ModelViolation as v:
            failure = TraceFailure(line_no, text, v.rule, v.message, False)
            report.failure = _first(failure, audits, states)
            return report
    report.failure = _first(None, audits, states)
    return report


def check_trace_file(path: str | Path) -> TraceReport:
    """Replay the decision log at `path`.  An unreadable file raises OSError."""
    with open(path, "rb") as f:
        return check_trace_lines(f, source=str(path))


def main(argv: Sequence[str] | None = None) -> int:
    paths = list(sys.argv[1:] if argv is None else argv)
    if not paths:
        print("usage: python -m gungnir.verify.trace LOG.jsonl [LOG.jsonl ...]", file=sys.stderr)
        return 2
    status = 0
    for path in paths:
        try:
            report = check_trace_file(path)
        except OSError as exc:
            print(f"{path}: cannot read: {exc}", file=sys.stderr)
            status = 2
            continue
        print(report.summary())
        if not report.ok:
            status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
