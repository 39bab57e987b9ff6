"""Decision-log replay: valid logs pass with counts, and every corruption - a forbidden step or
an unreadable line - is reported at the first bad line with the rule it breaks."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from gungnir.verify import abstract as ab
from gungnir.verify import trace as tr


def rec(kind: str, daemon: str, group: str = "g", t: float = 0.0, **fields: Any) -> dict[str, Any]:
    return {"kind": kind, "daemon": daemon, "group": group, "t": t, **fields}


def dump(records: list[dict[str, Any]]) -> list[str]:
    return [json.dumps(r) for r in records]


HEADER = rec("header", "a", voters=["a", "b", "c"])

# A hand-written history of one group over three epochs, with a second group interleaved:
# epoch 1 a wins and fails over to n2; c, cut off, fences n1 from the minority side; epoch 2 is
# a split vote (b and c each get one other vote: nobody wins); a restarts at epoch 2 and must
# move on; epoch 3 c wins with b's vote and fails over to n3.
VALID = [
    HEADER,
    rec("header", "x", group="h", voters=["x", "y", "z"]),
    rec("epoch_adopted", "a", t=1.0, epoch=1),
    rec("vote_granted", "a", t=1.0, epoch=1, candidate="a"),
    rec("epoch_adopted", "b", t=1.1, epoch=1),
    rec("vote_granted", "b", t=1.1, epoch=1, candidate="a"),
    rec("vote_granted", "b", t=1.15, epoch=1, candidate="a"),  # duplicate request, same answer
    rec("leader_elected", "a", t=1.2, epoch=1, voters=["a", "b"]),
    rec("fenced", "a", t=1.3, epoch=1, node="n1"),
    rec("promoted", "a", t=1.4, epoch=1, node="n2"),
    rec("config_published", "a", t=1.5, epoch=1, primary="n2", replicas=["n1", "n3"]),
    rec("repointed", "a", t=1.6, epoch=1, node="n3", primary="n2"),
    rec("fenced", "c", t=1.7, epoch=0, node="n1"),
    rec("epoch_adopted", "c", t=1.8, epoch=1),
    rec("repointed", "c", t=1.9, epoch=1, node="n1", primary="n2"),
    rec("epoch_adopted", "x", group="h", t=2.0, epoch=1),
    rec("vote_granted", "x", group="h", t=2.0, epoch=1, candidate="x"),
    rec("vote_granted", "z", group="h", t=2.1, epoch=1, candidate="x"),
    rec("leader_elected", "x", group="h", t=2.2, epoch=1, voters=["x", "z"]),
    rec("config_published", "x", group="h", t=2.3, epoch=1, primary="m2", replicas=["m1"]),
    rec("epoch_adopted", "b", t=3.0, epoch=2),
    rec("vote_granted", "b", t=3.0, epoch=2, candidate="b"),
    rec("epoch_adopted", "c", t=3.0, epoch=2),
    rec("vote_granted", "c", t=3.0, epoch=2, candidate="c"),
    rec("vote_granted", "a", t=3.1, epoch=2, candidate="b"),
    rec("restarted", "a", t=4.0, epoch=2, vote="b"),
    rec("epoch_adopted", "c", t=5.0, epoch=3),
    rec("vote_granted", "c", t=5.0, epoch=3, candidate="c"),
    rec("vote_granted", "b", t=5.1, epoch=3, candidate="c"),
    rec("leader_elected", "c", t=5.2, epoch=3, voters=["b", "c"]),
    rec("promoted", "c", t=5.3, epoch=3, node="n3"),
    rec("config_published", "c", t=5.4, epoch=3, primary="n3", replicas=["n1", "n2"]),
    rec("repointed", "b", t=5.5, epoch=3, node="n2", primary="n3"),
    rec("header", "b", voters=["c", "b", "a"]),  # another daemon's header: same set, fine
    rec("epoch_adopted", "a", t=5.6, epoch=3),
    rec("promoted", "a", t=5.7, epoch=3, node="n3"),  # reconcile: re-promote the config's primary
]


def test_valid_multi_epoch_log_passes() -> None:
    report = tr.check_trace_lines([*dump(VALID), "", "   "])
    assert report.ok, report.summary()
    assert report.lines == len(VALID)
    assert report.groups == 2 and report.leaders == 3 and report.configs == 3
    assert report.max_epoch == 3
    assert report.kinds["vote_granted"] == 10 and report.kinds["header"] == 3
    g = report.states["g"]
    assert g.configs == {(1, "n2"), (3, "n3")} and g.restarted_at == {("a", 2)}
    assert all(ab.violations(s) == [] for s in report.states.values())
    assert "OK" in report.summary()


def fail_at(records: list[dict[str, Any]] | list[str], line_no: int, rule: str) -> tr.TraceFailure:
    lines: list[str] = [r if isinstance(r, str) else json.dumps(r) for r in records]
    report = tr.check_trace_lines(lines)
    assert not report.ok
    f = report.failure
    assert f is not None
    assert (f.line_no, f.rule) == (line_no, rule), str(f)
    assert f.line == lines[line_no - 1].strip()
    assert f"line {line_no}" in report.summary() and rule in report.summary()
    return f


def corrupt(at: int, *new: dict[str, Any]) -> list[dict[str, Any]]:
    """VALID with `new` inserted before (0-based) index `at`."""
    return VALID[:at] + list(new) + VALID[at:]


def test_corrupted_logs_fail_at_the_first_bad_line() -> None:
    # Two votes in one epoch.
    f = fail_at(
        corrupt(6, rec("vote_granted", "b", epoch=1, candidate="c")), 7, ab.ONE_VOTE_PER_EPOCH
    )
    assert not f.malformed and "b already voted for a" in f.message
    # A leader counting a vote it never got, and a leader without a majority.
    fail_at(corrupt(7, rec("leader_elected", "a", epoch=1, voters=["a", "b", "c"])), 8,
            ab.LEADER_HAS_MAJORITY)  # fmt: skip
    fail_at(
        corrupt(5, rec("leader_elected", "a", epoch=1, voters=["a"])), 6, ab.LEADER_HAS_MAJORITY
    )
    # A second config of epoch 1 naming another primary, and a second promotion.
    fail_at(corrupt(11, rec("config_published", "a", epoch=1, primary="n3", replicas=[])), 12,
            ab.CONFIG_UNIQUENESS)  # fmt: skip
    fail_at(corrupt(11, rec("promoted", "a", epoch=1, node="n3")), 12, ab.CONFIG_UNIQUENESS)
    # A config or promotion from a daemon that does not lead the epoch.
    fail_at(corrupt(11, rec("config_published", "b", epoch=1, primary="n2", replicas=[])), 12,
            ab.CONFIG_FROM_LEADER)  # fmt: skip
    fail_at(corrupt(9, rec("promoted", "c", epoch=1, node="n2")), 10, ab.PROMOTE_BY_LEADER)
    # The restarted leader resumes its persisted epoch (the prototype's bug).
    fail_at(
        corrupt(8, rec("restarted", "a", epoch=1, vote="a"),
                rec("leader_elected", "a", epoch=1, voters=["a", "b"])),
        10, ab.RESTART_FRESH_EPOCH,
    )  # fmt: skip
    restarted_a = rec("restarted", "a", epoch=1, vote="a")
    fail_at(corrupt(9, restarted_a, rec("promoted", "a", epoch=1, node="n3")), 11,
            ab.RESTART_FRESH_EPOCH)  # fmt: skip
    # Restart forgetting its vote, or going back in epochs; an epoch going backwards.
    fail_at(corrupt(6, rec("restarted", "b", epoch=1, vote=None)), 7, ab.VOTE_DURABLE)
    fail_at(corrupt(6, rec("restarted", "b", epoch=0, vote=None)), 7, ab.EPOCH_MONOTONIC)
    fail_at(corrupt(21, rec("epoch_adopted", "b", epoch=1)), 22, ab.EPOCH_MONOTONIC)
    # Stale vote, observer vote, repoint against the config.
    fail_at(corrupt(21, rec("vote_granted", "b", epoch=1, candidate="c")), 22, ab.VOTE_NOT_STALE)
    fail_at(corrupt(3, rec("vote_granted", "o", epoch=1, candidate="a")), 4, ab.VOTER_MEMBERSHIP)
    fail_at(corrupt(12, rec("repointed", "c", epoch=1, node="n3", primary="n1")), 13,
            ab.REPOINT_FOLLOWS_CONFIG)  # fmt: skip


def test_bootstrap_epoch_actions_must_agree() -> None:
    """Epoch 0's config is not elected: reconciliation may promote and repoint under it from
    any daemon, but all of a group's epoch-0 actions name one primary."""
    boot = [
        HEADER,
        rec("header", "x", group="h", voters=["x"]),
        rec("promoted", "b", epoch=0, node="n1"),
        rec("repointed", "c", epoch=0, node="n2", primary="n1"),
        rec("repointed", "x", group="h", epoch=0, node="m2", primary="m1"),
    ]
    assert tr.check_trace_lines(dump(boot)).ok
    fail_at([*boot, rec("repointed", "a", epoch=0, node="n3", primary="n2")], 6,
            ab.CONFIG_UNIQUENESS)  # fmt: skip
    fail_at([*boot, rec("promoted", "a", epoch=0, node="n3")], 6, ab.CONFIG_UNIQUENESS)
    fail_at([*boot, rec("promoted", "a", epoch=1, node="n3")], 6, ab.PROMOTE_BY_LEADER)


def test_only_the_first_failure_is_reported() -> None:
    bad = corrupt(6, rec("vote_granted", "b", epoch=1, candidate="c"))
    bad = [*bad[:3], rec("epoch_adopted", "a", epoch=-1), *bad[3:]]
    f = fail_at(bad, 4, tr.MALFORMED)
    assert f.malformed


MALFORMED_CASES = [
    ('{"kind": "epoch_adopted", "daemon": "a", "group": "g", "t": 1, "epoch": 1', tr.MALFORMED),
    ("[1, 2, 3]", tr.MALFORMED),
    ('{"kind": "vote_cast", "daemon": "a", "group": "g", "t": 1, "epoch": 1}', tr.UNKNOWN_KIND),
    ('{"daemon": "a", "group": "g", "t": 1, "epoch": 1}', tr.MALFORMED),
    ('{"kind": "epoch_adopted", "group": "g", "t": 1, "epoch": 1}', tr.MALFORMED),
    ('{"kind": "epoch_adopted", "daemon": "a", "t": 1, "epoch": 1}', tr.MALFORMED),
    ('{"kind": "epoch_adopted", "daemon": "a", "group": "g", "epoch": 1}', tr.MALFORMED),
    ('{"kind": "epoch_adopted", "daemon": "a", "group": "g", "t": "x", "epoch": 1}', tr.MALFORMED),
    ('{"kind": "epoch_adopted", "daemon": "a", "group": "g", "t": NaN, "epoch": 1}', tr.MALFORMED),
    ('{"kind": "epoch_adopted", "daemon": "a", "group": "g", "t": 1, "epoch": true}', tr.MALFORMED),
    ('{"kind": "epoch_adopted", "daemon": "a", "group": "g", "t": 1, "epoch": 1.5}', tr.MALFORMED),
    ('{"kind": "epoch_adopted", "daemon": "", "group": "g", "t": 1, "epoch": 1}', tr.MALFORMED),
    ('{"kind": "vote_granted", "daemon": "a", "group": "g", "t": 1, "epoch": 1}', tr.MALFORMED),
    ('{"kind": "restarted", "daemon": "a", "group": "g", "t": 1, "epoch": 0}', tr.MALFORMED),
    ('{"kind": "leader_elected", "daemon": "a", "group": "g", "t": 1, "epoch": 1, "voters": "ab"}',
     tr.MALFORMED),
    ('{"kind": "config_published", "daemon": "a", "group": "g", "t": 1, "epoch": 1, '
     '"primary": "n1"}', tr.MALFORMED),
    ('{"kind": "repointed", "daemon": "a", "group": "g", "t": 1, "epoch": 1, "node": "n1"}',
     tr.MALFORMED),
    ('{"kind": "fenced", "daemon": "a", "group": "g", "t": 1, "epoch": 1}', tr.MALFORMED),
    ('{"kind": "header", "daemon": "a", "group": "g", "t": 0, "voters": ["a", "b"]}',
     tr.FIXED_VOTER_SET),
    ('{"kind": "header", "daemon": "a", "group": "new", "t": 0, "voters": ["a", "a"]}',
     tr.MALFORMED),
    ('{"kind": "header", "daemon": "a", "group": "new", "t": 0, "voters": []}', tr.MALFORMED),
    ('{"kind": "epoch_adopted", "daemon": "a", "group": "other", "t": 1, "epoch": 1}',
     tr.MISSING_HEADER),
]  # fmt: skip


@pytest.mark.parametrize(("bad", "rule"), MALFORMED_CASES)
def test_unreadable_lines_are_errors_naming_the_line(bad: str, rule: str) -> None:
    lines = [*dump(VALID[:4]), bad, *dump(VALID[4:])]
    f = fail_at(lines, 5, rule)
    assert f.malformed and f.message


def test_non_utf8_line_is_named() -> None:
    lines: list[bytes] = [line.encode() for line in dump(VALID[:2])] + [b'{"kind": "\xff"}']
    report = tr.check_trace_lines(lines)
    assert report.failure is not None
    assert (report.failure.line_no, report.failure.rule, report.failure.malformed) == (
        3, tr.MALFORMED, True)  # fmt: skip


def test_check_trace_file_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text("\n".join(dump(VALID)) + "\n")
    report = tr.check_trace_file(good)
    assert report.ok and report.source == str(good) and report.leaders == 3
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(dump(corrupt(6, rec("vote_granted", "b", epoch=1, candidate="c")))))
    assert tr.check_trace_file(bad).failure.line_no == 7  # type: ignore[union-attr]
    with pytest.raises(OSError):
        tr.check_trace_file(tmp_path / "missing.jsonl")
    assert tr.main([str(good)]) == 0
    assert tr.main([str(good), str(bad)]) == 1
    assert tr.main([str(tmp_path / "missing.jsonl")]) == 2
    assert tr.main([]) == 2
    out = capsys.readouterr().out
    assert ": OK" in out and "line 7: forbidden step, OneVotePerEpoch" in out


# ---------------------------------------------------------------------------------------------
# Random valid traces and random corruptions
# ---------------------------------------------------------------------------------------------


def valid_trace(rng: random.Random, voters: list[str], epochs: int) -> list[dict[str, Any]]:
    """A protocol-following history, built without abstract.py: candidates adopt an epoch and
    vote for themselves, voters grant one vote per epoch, a majority elects, the leader promotes,
    publishes and repoints, and daemons restart and recover what they persisted."""
    nodes = ["n1", "n2", "n3"]
    out = [rec("header", voters[0], voters=voters)]
    cur = dict.fromkeys(voters, 0)
    voted: dict[tuple[str, int], str] = {}

    def grant(v: str, e: int, c: str) -> None:
        if cur[v] < e:
            out.append(rec("epoch_adopted", v, epoch=e))
            cur[v] = e
        out.append(rec("vote_granted", v, epoch=e, candidate=c))
        voted[(v, e)] = c

    for e in range(1, epochs + 1):
        cands = rng.sample(voters, rng.choice([1, 1, 2]))
        for c in cands:
            grant(c, e, c)
        for v in rng.sample(voters, len(voters)):
            if (v, e) not in voted and rng.random() < 0.8:
                grant(v, e, rng.choice(cands))
        for c in cands:
            grants = [v for v in voters if voted.get((v, e)) == c]
            if len(grants) >= len(voters) // 2 + 1:
                rng.shuffle(grants)
                out.append(rec("leader_elected", c, epoch=e, voters=grants))
                primary = rng.choice(nodes)
                out.append(rec("promoted", c, epoch=e, node=primary))
                replicas = [n for n in nodes if n != primary]
                out.append(rec("config_published", c, epoch=e, primary=primary, replicas=replicas))
                for r in replicas:
                    out.append(
                        rec("repointed", rng.choice(voters), epoch=e, node=r, primary=primary)
                    )
        if rng.random() < 0.5:
            d = rng.choice(voters)
            out.append(rec("restarted", d, epoch=cur[d], vote=voted.get((d, cur[d]))))
    return out


traces = st.builds(
    lambda seed, n, k: valid_trace(random.Random(seed), ["a", "b", "c", "d", "e"][:n], k),
    st.integers(0, 2**32),
    st.sampled_from([3, 4, 5]),
    st.integers(1, 6),
)


@settings(max_examples=150, deadline=None)
@given(records=traces)
def test_random_valid_traces_pass(records: list[dict[str, Any]]) -> None:
    report = tr.check_trace_lines(dump(records))
    assert report.ok, report.summary()
    assert report.leaders == sum(r["kind"] == "leader_elected" for r in records)
    assert report.lines == len(records)


def _indices(records: list[dict[str, Any]], kind: str) -> list[int]:
    return [i for i, r in enumerate(records) if r["kind"] == kind]


@settings(max_examples=150, deadline=None)
@given(records=traces, data=st.data())
def test_random_corruptions_are_reported_at_their_line(
    records: list[dict[str, Any]], data: st.DataObject
) -> None:
    mutation = data.draw(
        st.sampled_from(
            ["double_vote", "no_majority", "second_config", "restart_lead", "forget_vote"]
        )
    )
    voters = records[0]["voters"]
    if mutation == "double_vote":
        i = data.draw(st.sampled_from(_indices(records, "vote_granted")))
        r = records[i]
        other = data.draw(st.sampled_from([v for v in voters if v != r["candidate"]]))
        new = [rec("vote_granted", r["daemon"], epoch=r["epoch"], candidate=other)]
        at, rule = i + 1, ab.ONE_VOTE_PER_EPOCH
    elif mutation == "no_majority":
        at = data.draw(st.integers(1, len(records)))
        d = data.draw(st.sampled_from(voters))
        new = [
            rec("epoch_adopted", d, epoch=100),
            rec("vote_granted", d, epoch=100, candidate=d),
            rec("leader_elected", d, epoch=100, voters=[d]),
        ]
        rule = ab.LEADER_HAS_MAJORITY
    elif mutation == "second_config":
        configs = _indices(records, "config_published")
        assume(configs)
        i = data.draw(st.sampled_from(configs))
        r = records[i]
        new = [rec("config_published", r["daemon"], epoch=r["epoch"], primary=r["primary"] + "x",
                   replicas=[])]  # fmt: skip
        at, rule = i + 1, ab.CONFIG_UNIQUENESS
    elif mutation == "restart_lead":
        leaders = _indices(records, "leader_elected")
        assume(leaders)
        i = data.draw(st.sampled_from(leaders))
        r = records[i]
        new = [rec("restarted", r["daemon"], epoch=r["epoch"], vote=r["daemon"]), dict(r)]
        at, rule = i + 1, ab.RESTART_FRESH_EPOCH
    else:
        i = data.draw(st.sampled_from(_indices(records, "vote_granted")))
        r = records[i]
        new = [rec("restarted", r["daemon"], epoch=r["epoch"], vote=None)]
        at, rule = i + 1, ab.VOTE_DURABLE
    bad = records[:at] + new + records[at:]
    # The bad line is the last inserted one: everything before it is a valid prefix.
    fail_at(bad, at + len(new), rule)


def test_a_violation_a_transition_lets_through_is_still_reported(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Defence in depth: the replay also evaluates the state invariants after every step, so a
    weakened transition cannot make a bad log pass."""

    def careless_grant(s: ab.AbstractState, voter: str, epoch: int, cand: str) -> ab.AbstractState:
        return ab.AbstractState(s.voters, s.votes | {(voter, epoch, cand)}, s.leaders, s.configs,
                                s.epochs, s.restarted_at)  # fmt: skip

    monkeypatch.setattr(ab, "grant_vote", careless_grant)
    f = fail_at(corrupt(6, rec("vote_granted", "b", epoch=1, candidate="c")), 7,
                ab.ONE_VOTE_PER_EPOCH)  # fmt: skip
    assert not f.malformed


def test_deferred_audit_still_names_the_first_bad_line(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a long log the invariant re-check runs in batches (to stay linear); a violation a
    weakened transition let through is still reported at its own line, and before a later
    failure in another group."""

    def careless_grant(s: ab.AbstractState, voter: str, epoch: int, cand: str) -> ab.AbstractState:
        s = ab.adopt_epoch(s, voter, max(epoch, ab.current_epoch(s, voter)))
        return ab.AbstractState(s.voters, s.votes | {(voter, epoch, cand)}, s.leaders, s.configs,
                                s.epochs, s.restarted_at)  # fmt: skip

    monkeypatch.setattr(ab, "grant_vote", careless_grant)
    history = valid_trace(random.Random(3), ["a", "b", "c"], 60)
    assert len(history) > 300
    other = rec("header", "x", group="h", voters=["x"])
    double = rec("vote_granted", "a", epoch=500, candidate="b")
    lines = [history[0], other, *history[1:], rec("vote_granted", "a", epoch=500, candidate="a"),
             double, *[rec("epoch_adopted", "b", epoch=600 + i) for i in range(5)],
             rec("leader_elected", "x", group="h", epoch=1, voters=["x"])]  # fmt: skip
    bad_line = len(history) + 3
    fail_at(lines, bad_line, ab.ONE_VOTE_PER_EPOCH)
    # Without the later failure, the end-of-log check finds it too.
    fail_at(lines[:-1], bad_line, ab.ONE_VOTE_PER_EPOCH)
