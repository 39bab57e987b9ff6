"""The Z3 proofs: each lemma proves, each premise-dropped variant is satisfiable, and the Z3
encoding of the abstract model agrees with `abstract.py` on concrete states and steps."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest
import z3
from hypothesis import given, settings
from hypothesis import strategies as st

from gungnir.verify import abstract as ab
from gungnir.verify import proofs
from gungnir.verify.abstract import AbstractState, ModelViolation
from gungnir.verify.proofs import DAEMON, NODE, TRANSITION_PARAMS, ZState

LEMMAS = [
    proofs.majorities_intersect,
    proofs.one_leader_per_epoch,
    proofs.configs_never_conflict,
    proofs.invariant_is_inductive,
    proofs.joint_consensus,
]


@pytest.mark.parametrize("lemma", LEMMAS, ids=lambda f: f.__name__)
def test_lemma_is_proved_and_not_vacuous(lemma: Callable[[], proofs.ProofResult]) -> None:
    result = lemma()
    assert result.proved, result.summary()
    assert result.counterexample is None
    assert result.witnesses, "every lemma shows that a dropped premise breaks it"
    for w in result.witnesses:
        assert w.satisfiable, f"without {w.dropped}: still unsat, the premise is vacuous"
        assert w.model, "a satisfiable variant comes with its witness model"
    assert result.ok
    assert result.seconds > 0
    assert "PROVED" in result.summary()


def test_inductive_step_covers_every_transition_with_the_same_names() -> None:
    assert set(proofs.TRANSITIONS) == {
        "grant_vote",
        "adopt_epoch",
        "take_leadership",
        "publish_config",
        "restart",
    }
    assert all(callable(getattr(ab, name)) for name in proofs.TRANSITIONS)
    names = [n for n, _ in proofs.invariant(proofs.symbolic_state("names"))]
    assert set(names) == {
        ab.VOTER_MEMBERSHIP,
        ab.ONE_VOTE_PER_EPOCH,
        ab.LEADER_HAS_MAJORITY,
        ab.ELECTION_SAFETY,
        ab.CONFIG_FROM_LEADER,
        ab.CONFIG_UNIQUENESS,
        ab.EPOCH_MONOTONIC,
    }
    for name in proofs.TRANSITIONS:
        guards, _, _, needed = proofs.transition(proofs.symbolic_state("g"), name)
        assert {g for g, _ in guards} <= set(ab.RULES)
        assert set(needed) <= {g for g, _ in guards}
        # Each guard whose omission must break the invariant is listed as a witness.
        result = proofs.inductive_step(name)
        assert result.ok, result.summary()
        dropped = " ".join(w.dropped for w in result.witnesses)
        assert all(g in dropped for g in needed)


def test_the_harness_reports_a_false_claim() -> None:
    n = z3.Int("n")
    result = proofs._prove("false claim", "n > 0 implies n > 5", [], [n > 0], n > 5, [])
    assert not result.proved and not result.ok
    assert result.counterexample is not None and "n=" in result.counterexample
    vacuous = proofs._prove("vacuous", "", [], [n > 0], n > -1, [("n > 0", [n > 1])])
    assert vacuous.proved and not vacuous.ok  # dropping the premise kept it unsat


def test_prove_all_and_the_entry_point(capsys: pytest.CaptureFixture[str]) -> None:
    results = proofs.prove_all()
    assert [r.lemma[:3] for r in results] == ["(a)", "(b)", "(c)", "(d)", "(e)"]
    assert all(r.ok for r in results)
    assert proofs.main([]) == 0
    out = capsys.readouterr().out
    assert "5/5 lemmas proved non-vacuously" in out
    assert out.count("PROVED") >= 5 and "sat (premise needed)" in out


# ---------------------------------------------------------------------------------------------
# The Z3 encoding against the code, on concrete states
# ---------------------------------------------------------------------------------------------


def _any(terms: list[z3.BoolRef]) -> z3.BoolRef:
    return z3.Or(terms) if terms else z3.BoolVal(False)


def concrete_state(
    s: AbstractState, daemons: tuple[str, ...] = (), nodes: tuple[str, ...] = ()
) -> tuple[ZState, list[z3.BoolRef], dict[str, z3.ExprRef], dict[str, z3.ExprRef]]:
    """`s` spelled out in Z3: a distinct constant per name, majority by counting."""
    names = sorted(
        set(s.voters)
        | set(daemons)
        | {x for v, _, c in s.votes for x in (v, c)}
        | {d for _, d in s.leaders}
        | {d for d, _ in s.epochs}
        | {d for d, _ in s.restarted_at}
    )
    node_names = sorted({p for _, p in s.configs} | set(nodes))
    dc = {n: z3.Const(f"daemon:{n}", DAEMON) for n in names}
    nc = {n: z3.Const(f"node:{n}", NODE) for n in node_names}
    voters = [dc[v] for v in sorted(s.voters)]

    def votes(v: z3.ExprRef, e: z3.ArithRef, c: z3.ExprRef) -> z3.BoolRef:
        return _any([z3.And(v == dc[x], e == ex, c == dc[y]) for x, ex, y in sorted(s.votes)])

    def table(pairs: frozenset[tuple[str, int]]) -> Callable[[z3.ExprRef], z3.ArithRef]:
        def f(d: z3.ExprRef) -> z3.ArithRef:
            out: z3.ArithRef = z3.IntVal(0)
            for x, val in sorted(pairs):
                out = z3.If(d == dc[x], val, out)
            return out

        return f

    need = len(s.voters) // 2 + 1
    state = ZState(
        voter=lambda v: _any([v == x for x in voters]),
        votes=votes,
        leaders=lambda e, d: _any([z3.And(e == x, d == dc[y]) for x, y in sorted(s.leaders)]),
        configs=lambda e, p: _any([z3.And(e == x, p == nc[y]) for x, y in sorted(s.configs)]),
        epoch=table(s.epochs),
        restarted=lambda d: _any([d == dc[x] for x, _ in sorted(s.restarted_at)]),
        rst=table(s.restarted_at),
        maj=lambda e, d: z3.PbGe([(votes(x, e, d), 1) for x in voters], need),
    )
    facts = [z3.Distinct(*dc.values())] if len(dc) > 1 else []
    if len(nc) > 1:
        facts.append(z3.Distinct(*nc.values()))
    return state, facts, dc, nc


def _valid(facts: list[z3.BoolRef], claim: z3.BoolRef) -> bool:
    solver = z3.Solver()
    solver.set("timeout", 30_000)
    solver.add(*facts, z3.Not(claim))
    result = solver.check()
    assert result != z3.unknown, "z3 could not decide a concrete query"
    return bool(result == z3.unsat)


def z3_invariant_holds(s: AbstractState) -> bool:
    state, facts, _, _ = concrete_state(s)
    return _valid(facts, z3.And([f for _, f in proofs.invariant(state)]))


def z3_guard_allows(s: AbstractState, name: str, **params: object) -> bool:
    daemons = tuple(str(params[k]) for k in ("daemon", "candidate") if k in params)
    nodes = (str(params["primary"]),) if "primary" in params else ()
    state, facts, dc, nc = concrete_state(s, (*daemons, "<none>"), nodes)
    guards, _, _, _ = proofs.transition(state, name)
    subst = [(TRANSITION_PARAMS["epoch"], z3.IntVal(int(params["epoch"])))]  # type: ignore[call-overload]
    subst.append((TRANSITION_PARAMS["daemon"], dc[str(params["daemon"])]))
    subst.append((TRANSITION_PARAMS["candidate"], dc[str(params.get("candidate", "<none>"))]))
    if nodes:
        subst.append((TRANSITION_PARAMS["primary"], nc[nodes[0]]))
    subst.append((TRANSITION_PARAMS["has_vote"], z3.BoolVal(bool(params.get("has_vote")))))
    return _valid(facts, z3.substitute(z3.And([g for _, g in guards]), *subst))


VOTERS = frozenset("abc")
NAMES = ["a", "b", "c", "x"]


def walk(seed: int, steps: int) -> list[AbstractState]:
    """States reached by random allowed steps (all valid), biased towards completed elections
    so leaders, configs and restarts all occur."""
    rng = random.Random(seed)
    s = ab.initial_state(VOTERS)
    seen = [s]
    for _ in range(steps):
        d = rng.choice(NAMES)
        top = max(x for _, x in s.epochs)
        e = rng.choice([top] * 8 + [top + 1, max(0, top - 1)])
        kind = rng.choices(["grant", "lead", "publish", "restart", "adopt"], [20, 8, 6, 1, 2])[0]
        try:
            if kind == "grant":
                s = ab.grant_vote(s, d, e, rng.choice("ab"))
            elif kind == "lead":
                s = ab.take_leadership(s, rng.choice("ab"), e)
            elif kind == "publish":
                s = ab.publish_config(s, rng.choice("ab"), e, rng.choice(["n1", "n2"]))
            elif kind == "adopt":
                s = ab.adopt_epoch(s, d, e)
            else:
                r = ab.current_epoch(s, d)
                vote = next((c for v, x, c in s.votes if v == d and x == r), None)
                s = ab.restart(s, d, r, vote)
        except ModelViolation:
            continue
        seen.append(s)
    return seen


facts_strategy = st.fixed_dictionaries(
    {
        "votes": st.frozensets(
            st.tuples(st.sampled_from(NAMES), st.integers(0, 2), st.sampled_from("abc")), max_size=6
        ),
        "leaders": st.frozensets(st.tuples(st.integers(0, 2), st.sampled_from("abc")), max_size=3),
        "configs": st.frozensets(
            st.tuples(st.integers(0, 2), st.sampled_from(["n1", "n2"])), max_size=3
        ),
        "epochs": st.dictionaries(st.sampled_from(NAMES), st.integers(0, 3)),
        "restarted_at": st.dictionaries(st.sampled_from(NAMES), st.integers(0, 3), max_size=2),
    }
)


@settings(max_examples=120, deadline=None)
@given(seed=st.integers(0, 50), extra=facts_strategy, mix=st.booleans())
def test_z3_invariant_agrees_with_violations(seed: int, extra: dict, mix: bool) -> None:  # type: ignore[type-arg]
    """`violations(s) == []` and the Z3 invariant of proof (d) agree on every state, valid or
    not: the proof is about the same invariant the model checker evaluates."""
    base = walk(seed, 40)[-1]
    epochs = dict(base.epochs) | extra["epochs"] if mix else extra["epochs"]
    s = AbstractState(
        VOTERS,
        base.votes | extra["votes"] if mix else extra["votes"],
        base.leaders | extra["leaders"] if mix else extra["leaders"],
        base.configs | extra["configs"] if mix else extra["configs"],
        frozenset(epochs.items()),
        frozenset(extra["restarted_at"].items()),
    )
    assert (ab.violations(s) == []) == z3_invariant_holds(s), ab.describe_violations(s)


def test_z3_invariant_cross_check_sees_both_outcomes() -> None:
    valid = walk(3, 200)[-1]
    assert valid.leaders and ab.violations(valid) == [] and z3_invariant_holds(valid)
    broken = AbstractState(VOTERS, valid.votes, valid.leaders, valid.configs | {(99, "n9")},
                           valid.epochs, valid.restarted_at)  # fmt: skip
    assert ab.violations(broken) == [ab.CONFIG_FROM_LEADER] and not z3_invariant_holds(broken)


def _python_allows(s: AbstractState, name: str, params: dict[str, object]) -> bool:
    fn = getattr(ab, name)
    d, e = params["daemon"], params["epoch"]
    try:
        if name == "grant_vote":
            fn(s, d, e, params["candidate"])
        elif name == "publish_config":
            fn(s, d, e, params["primary"])
        elif name == "restart":
            fn(s, d, e, params["candidate"] if params["has_vote"] else None)
        else:
            fn(s, d, e)
    except ModelViolation:
        return False
    return True


@settings(max_examples=150, deadline=None)
@given(
    seed=st.integers(0, 40),
    at=st.integers(0, 60),
    name=st.sampled_from(proofs.TRANSITIONS),
    daemon=st.sampled_from(NAMES),
    candidate=st.sampled_from(NAMES),
    epoch=st.integers(0, 4),
    primary=st.sampled_from(["n1", "n2"]),
    has_vote=st.booleans(),
)
def test_z3_guards_agree_with_the_transitions(
    seed: int,
    at: int,
    name: str,
    daemon: str,
    candidate: str,
    epoch: int,
    primary: str,
    has_vote: bool,
) -> None:
    """On reachable states, a step `abstract.py` allows is one whose Z3 guards hold (proof (d)
    is about the same transition relation the trace checker replays)."""
    states = walk(seed, 60)
    s = states[min(at, len(states) - 1)]
    if name == "grant_vote" and (daemon, epoch, candidate) in s.votes:
        return  # the code's idempotent re-grant: a no-op, outside the encoded relation
    params: dict[str, object] = {"daemon": daemon, "epoch": epoch, "candidate": candidate,
                                 "primary": primary, "has_vote": has_vote}  # fmt: skip
    if name not in ("grant_vote", "restart"):
        params.pop("candidate")
    if name != "publish_config":
        params.pop("primary")
    assert _python_allows(s, name, {"candidate": candidate, **params}) == z3_guard_allows(
        s, name, **params
    )


def test_z3_guard_cross_check_sees_both_outcomes_for_every_transition() -> None:
    rng = random.Random(11)
    outcomes: dict[str, set[bool]] = {name: set() for name in proofs.TRANSITIONS}
    states = walk(7, 120)
    for _ in range(150):
        s = rng.choice(states)
        name = rng.choice(proofs.TRANSITIONS)
        params: dict[str, object] = {"daemon": rng.choice(NAMES), "epoch": rng.randrange(4)}
        if name in ("grant_vote", "restart"):
            params["candidate"] = rng.choice("abc")
        if name == "restart":
            params["has_vote"] = rng.random() < 0.5
        if name == "publish_config":
            params["primary"] = rng.choice(["n1", "n2"])
        # Steer towards steps that can be allowed: an epoch someone won, or leads.
        won = sorted({(e, c) for _, e, c in s.votes if ab.violations(ab.AbstractState(
            VOTERS, s.votes, frozenset({(e, c)}), epochs=s.epochs)) == []})  # fmt: skip
        options = won if name == "take_leadership" else sorted(s.leaders)
        if name in ("take_leadership", "publish_config") and options and rng.random() < 0.7:
            e, d = rng.choice(options)
            params["daemon"], params["epoch"] = d, e
        if (
            name == "grant_vote"
            and (params["daemon"], params["epoch"], params["candidate"]) in s.votes
        ):
            continue
        allowed = z3_guard_allows(s, name, **params)
        assert _python_allows(s, name, {"candidate": None, "has_vote": False, **params}) == allowed
        outcomes[name].add(allowed)
    assert all(seen == {True, False} for seen in outcomes.values()), outcomes
