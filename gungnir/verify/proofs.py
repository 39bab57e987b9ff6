"""Z3 proofs of the unbounded lemmas behind Gungnir's election safety.

The model checker explores a bounded scope; these proofs cover what no bounded search can:
every voter-set size, every epoch, every interleaving of the abstract transitions.

Each lemma is a function returning a `ProofResult`: the claim is proved when its negation is
unsatisfiable.  Each lemma also runs *witnesses*: the same query with one premise dropped
(two votes per epoch, a quorum below a majority, no restart rule, ...), which must become
satisfiable - Z3's model is printed as the counterexample that premise prevents.  A proof whose
premise-dropped variants were also unsatisfiable would prove nothing (vacuous premises).

Lemmas:
  (a) majorities_intersect      two majorities (n//2+1) of an n-set intersect, for every n
  (b) one_leader_per_epoch      one vote per voter per epoch => at most one leader per epoch
  (c) configs_never_conflict    only live leaders publish => configs of one epoch agree
  (d) invariant_is_inductive    every abstract transition of `abstract.py` keeps its invariant
  (e) joint_consensus           old-and-new majorities => decisions never use disjoint quorums

Run `python -m gungnir.verify.proofs` to print the results.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import z3

from gungnir.verify.zmodel import (
    DAEMON,
    NODE,
    TRANSITION_PARAMS,
    TRANSITIONS,
    ZState,
    _c,
    _d,
    _e,
    _v,
    invariant,
    majorities_share_a_voter,
    symbolic_state,
    transition,
)

__all__ = [
    "DAEMON",
    "NODE",
    "TRANSITIONS",
    "TRANSITION_PARAMS",
    "ProofResult",
    "Witness",
    "ZState",
    "configs_never_conflict",
    "inductive_step",
    "invariant",
    "invariant_is_inductive",
    "joint_consensus",
    "majorities_intersect",
    "one_leader_per_epoch",
    "prove_all",
    "symbolic_state",
    "transition",
]

TIMEOUT_MS = 60_000


@dataclass(frozen=True)
class Witness:
    """One premise-dropped variant: `satisfiable` must be True, `model` shows why."""

    dropped: str
    satisfiable: bool
    model: str
    seconds: float


@dataclass(frozen=True)
class ProofResult:
    """The outcome of one lemma: `proved` with its witnesses all satisfiable is success."""

    lemma: str
    claim: str
    assumptions: tuple[str, ...]
    proved: bool
    counterexample: str | None
    seconds: float
    witnesses: tuple[Witness, ...] = field(default=())

    @property
    def ok(self) -> bool:
        """Proved, and not vacuously: dropping each listed premise breaks the claim."""
        return self.proved and all(w.satisfiable for w in self.witnesses)

    def summary(self) -> str:
        status = "PROVED" if self.proved else "NOT PROVED"
        lines = [f"{self.lemma}: {status} in {self.seconds:.3f}s - {self.claim}"]
        for a in self.assumptions:
            lines.append(f"    assumes: {a}")
        if self.counterexample:
            lines.append(f"    counterexample: {self.counterexample}")
        for w in self.witnesses:
            tag = "sat (premise needed)" if w.satisfiable else "UNSAT (vacuous premise!)"
            lines.append(f"    without {w.dropped}: {tag} in {w.seconds:.3f}s")
            if w.model:
                lines.append(f"        witness: {w.model}")
        return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Solver plumbing
# ---------------------------------------------------------------------------------------------


def _check(facts: Sequence[z3.BoolRef]) -> tuple[z3.CheckSatResult, str, float]:
    """Check satisfiability of `facts`; return the result, the model as text, and the time."""
    solver = z3.Solver()
    solver.set("timeout", TIMEOUT_MS)
    solver.add(*facts)
    start = time.perf_counter()
    result = solver.check()
    elapsed = time.perf_counter() - start
    model = ""
    if result == z3.sat:
        m = solver.model()
        model = ", ".join(sorted(f"{d.name()}={m[d]}" for d in m.decls() if d.arity() == 0))
        if not model:
            model = str(m)
    return result, _shorten(model), elapsed


def _shorten(text: str, limit: int = 600) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _prove(
    lemma: str,
    claim: str,
    assumptions: Sequence[str],
    premises: Sequence[z3.BoolRef],
    goal: z3.BoolRef,
    dropped: Sequence[tuple[str, Sequence[z3.BoolRef]]],
) -> ProofResult:
    """Prove premises => goal, then re-check the negation with each premise set in `dropped`.

    Each `dropped` entry names the premise left out and gives the weaker premise list; its
    negated goal must be satisfiable.
    """
    result, model, seconds = _check([*premises, z3.Not(goal)])
    proved = result == z3.unsat
    counterexample = None if proved else (model or f"solver said {result}")
    witnesses = []
    for name, weaker in dropped:
        r, m, s = _check([*weaker, z3.Not(goal)])
        witnesses.append(Witness(name, r == z3.sat, m if r == z3.sat else str(r), s))
        seconds += s
    return ProofResult(
        lemma, claim, tuple(assumptions), proved, counterexample, seconds, tuple(witnesses)
    )


def _merge(lemma: str, claim: str, parts: Sequence[ProofResult]) -> ProofResult:
    """One result from several sub-proofs (each sub-claim is one conjunct of `claim`)."""
    bad = [p for p in parts if not p.proved]
    assumptions: list[str] = []
    for p in parts:
        assumptions.extend(a for a in p.assumptions if a not in assumptions)
    return ProofResult(
        lemma,
        claim,
        tuple(assumptions),
        not bad,
        "; ".join(f"{p.lemma}: {p.counterexample}" for p in bad) or None,
        sum(p.seconds for p in parts),
        tuple(w for p in parts for w in p.witnesses),
    )


# ---------------------------------------------------------------------------------------------
# (a) Majorities intersect, for every n
# ---------------------------------------------------------------------------------------------


def _venn(prefix: str) -> tuple[z3.ArithRef, z3.ArithRef, z3.ArithRef, z3.ArithRef]:
    """Sizes of the four regions two subsets A, B cut a finite set into:
    A only, B only, both, neither.  Every pair of subsets of an n-set has such a split with
    the four sizes adding up to n; conversely any such sizes are realised by some pair."""
    a, b, c, d = z3.Ints(f"{prefix}_a_only {prefix}_b_only {prefix}_both {prefix}_neither")
    return a, b, c, d


def majorities_intersect(max_explicit_n: int = 9) -> ProofResult:
    """(a) For every n >= 1, any two subsets of an n-member set with at least n//2+1 members
    each share a member.

    Proof over integers, not tied to a fixed n: two subsets A, B of an n-set split it into four
    regions whose sizes a, b, c, d are non-negative and sum to n, with |A| = a+c, |B| = b+c;
    the query asks for a split with |A|, |B| >= n//2+1 and c = 0 (no common member) for a
    symbolic n, and is unsatisfiable.  A bounded check with explicit membership bits for
    n = 1..`max_explicit_n` complements it.  Witness: with size n//2 in place of n//2+1
    disjoint "quorums" exist (for example n = 2: {x} and {y}).
    """
    n = z3.Int("n")
    a, b, c, d = _venn("ab")
    split = [n >= 1, a >= 0, b >= 0, c >= 0, d >= 0, a + b + c + d == n]
    maj = n / 2 + 1  # z3 integer division: floor for non-negative n

    def need(q: z3.ArithRef) -> list[z3.BoolRef]:
        return [a + c >= q, b + c >= q]

    general = _prove(
        "(a) majorities_intersect",
        "for every n >= 1, two subsets of size >= n//2+1 of an n-set share a member",
        ["finite sets: two subsets of an n-set split it into four regions of sizes summing to n"],
        [*split, *need(maj)],
        c >= 1,
        [("the majority size (quorum = n//2 instead of n//2+1)", [*split, *need(n / 2), n >= 2])],
    )

    # Bounded, explicit-set sanity check: membership bits, cardinality by pseudo-boolean sums.
    parts = []
    for size in range(1, max_explicit_n + 1):
        in_a = [z3.Bool(f"a{i}") for i in range(size)]
        in_b = [z3.Bool(f"b{i}") for i in range(size)]
        q = size // 2 + 1
        premises = [
            z3.PbGe([(x, 1) for x in in_a], q),
            z3.PbGe([(x, 1) for x in in_b], q),
        ]
        goal = z3.Or([z3.And(x, y) for x, y in zip(in_a, in_b, strict=True)])
        weaker = [
            z3.PbGe([(x, 1) for x in in_a], size // 2),
            z3.PbGe([(x, 1) for x in in_b], size // 2),
        ]
        dropped = [(f"majority at n={size} (quorum {size // 2})", weaker)] if size >= 2 else []
        parts.append(
            _prove(f"(a) explicit n={size}", "", [], premises, goal, dropped),
        )
    explicit = _merge("(a) explicit", "", parts)
    merged = _merge(
        "(a) majorities_intersect",
        general.claim + f" (with an explicit-set cross-check for n = 1..{max_explicit_n})",
        [general, explicit],
    )
    return merged


def inductive_step(name: str) -> ProofResult:
    """Inv(s) + guards(name) => Inv(s') + no epoch decreases + votes only accumulate."""
    s = symbolic_state("pre")
    guards, post, facts, needed = transition(s, name)
    inv = [f for _, f in invariant(s)]
    premises = [*inv, majorities_share_a_voter(s, "pre"), *facts, *(g for _, g in guards)]
    goal = z3.And(
        *(f for _, f in invariant(post)),
        z3.ForAll([_d], post.epoch(_d) >= s.epoch(_d)),
        z3.ForAll([_v, _e, _c], z3.Implies(s.votes(_v, _e, _c), post.votes(_v, _e, _c))),
    )
    dropped = [
        (f"{name}'s {g} guard", [*inv, majorities_share_a_voter(s, "pre"), *facts,
                                 *(x for n, x in guards if n != g)])
        for g in needed
    ]  # fmt: skip
    if name == "take_leadership":
        no_lemma_a = [*inv, *facts, *(g for _, g in guards)]
        dropped.append(("lemma (a) (a quorum below a majority)", no_lemma_a))
        no_one_vote = [f for n, f in invariant(s) if n != "OneVotePerEpoch"]
        dropped.append(
            ("OneVotePerEpoch in the pre-state",
             [*no_one_vote, majorities_share_a_voter(s, "pre"), *(g for _, g in guards)])
        )  # fmt: skip
    return _prove(
        f"(d) {name}",
        f"{name} preserves the invariant",
        [
            "lemma (a) for the grant sets of each state",
            "counting is monotone: more grants never lose a majority",
        ],
        premises,
        goal,
        dropped,
    )


# ---------------------------------------------------------------------------------------------
# (b) One vote per voter per epoch => at most one leader per epoch
# ---------------------------------------------------------------------------------------------


def one_leader_per_epoch() -> ProofResult:
    """(b) ElectionSafety: if every voter grants at most one candidate per epoch, and a leader
    of e holds grants for e from a majority of the fixed voter set, two leaders of one epoch are
    the same daemon.  For every voter set, every epoch.

    Cardinality enters only through lemma (a), stated as an axiom over the grant sets: two
    majorities of grants for e share a voter `w(e, c1, c2)`.  Witnesses: allowing two votes per
    epoch, or replacing the majority by a quorum whose sets need not intersect, lets two
    candidates lead one epoch.
    """
    s = symbolic_state("b")
    inv = dict(invariant(s))
    one_vote, leader_majority = inv["OneVotePerEpoch"], inv["LeaderHasMajority"]
    intersect = majorities_share_a_voter(s, "b")
    e, d1, d2 = z3.Int("epoch"), z3.Const("leader1", DAEMON), z3.Const("leader2", DAEMON)
    # Free constants (so a witness names the two leaders); equivalent to inv["ElectionSafety"].
    goal = z3.Implies(z3.And(s.leaders(e, d1), s.leaders(e, d2)), d1 == d2)
    return _prove(
        "(b) one_leader_per_epoch",
        "one durable vote per voter per epoch + leaders need a majority => <= 1 leader per epoch",
        ["lemma (a): two majorities of the fixed voter set share a member"],
        [one_vote, leader_majority, intersect],
        goal,
        [
            ("one vote per voter per epoch", [leader_majority, intersect]),
            ("majority (a quorum whose sets need not intersect)", [one_vote, leader_majority]),
        ],
    )


# ---------------------------------------------------------------------------------------------
# (c) Configs of one epoch never conflict
# ---------------------------------------------------------------------------------------------


def configs_never_conflict() -> ProofResult:
    """(c) ConfigUniqueness with local knowledge: two configs naming different primaries have
    different epochs, so configs are totally ordered by epoch and the highest one is unambiguous.

    Model: daemon d publishes (e, p) during incarnation k (k counts its restarts).  Premises:
    only the leader of e publishes for e, in an incarnation in which it led e; at most one
    leader per epoch (lemma (b)); within one incarnation a leader remembers its decision, so it
    names one primary per epoch; leading e means epoch >= e was persisted, and a restart
    recovers at least every persisted epoch (EpochMonotonic, fsync honoured); the restart rule:
    in incarnation k >= 1 a daemon leads only epochs > the epoch it recovered.  Witnesses:
    without the restart rule a restarted leader re-leads its epoch and publishes a second
    primary (the bug a prototype checker found); without (b) or without one-primary-per-epoch
    two configs conflict.
    """
    d_sort, p_sort = DAEMON, NODE
    e, k, k2 = z3.Ints("e k k2")
    d, d2 = z3.Consts("d d2", d_sort)
    p, p2 = z3.Consts("p p2", p_sort)
    leader = z3.Function("leader", z3.IntSort(), d_sort, z3.BoolSort())
    led_in = z3.Function("led_in", d_sort, z3.IntSort(), z3.IntSort(), z3.BoolSort())
    pub = z3.Function("published", d_sort, z3.IntSort(), p_sort, z3.IntSort(), z3.BoolSort())
    recovered = z3.Function("recovered", d_sort, z3.IntSort(), z3.IntSort())

    only_leaders = z3.ForAll(
        [d, e, p, k],
        z3.Implies(pub(d, e, p, k), z3.And(leader(e, d), led_in(d, e, k), k >= 0)),
    )
    election_safety = z3.ForAll(
        [e, d, d2], z3.Implies(z3.And(leader(e, d), leader(e, d2)), d == d2)
    )
    remembers = z3.ForAll(
        [d, e, p, p2, k],
        z3.Implies(z3.And(pub(d, e, p, k), pub(d, e, p2, k)), p == p2),
    )
    durable_epoch = z3.ForAll(
        [d, e, k, k2],
        z3.Implies(z3.And(led_in(d, e, k), k < k2), recovered(d, k2) >= e),
    )
    restart_rule = z3.ForAll(
        [d, e, k], z3.Implies(z3.And(led_in(d, e, k), k >= 1), e > recovered(d, k))
    )
    e1, e2 = z3.Ints("e1 e2")
    p1 = z3.Const("p1", p_sort)
    ka, kb = z3.Ints("ka kb")
    da, db = z3.Consts("da db", d_sort)
    # Free constants: the claim holds for all of them iff its negation is unsatisfiable, and a
    # witness model then names the two conflicting publications.
    goal = z3.Implies(
        z3.And(pub(da, e1, p1, ka), pub(db, e2, p2, kb), p1 != p2),
        z3.Or(e1 < e2, e2 < e1),
    )
    premises = [only_leaders, election_safety, remembers, durable_epoch, restart_rule]

    def without(x: z3.BoolRef) -> list[z3.BoolRef]:
        return [q for q in premises if q is not x]

    return _prove(
        "(c) configs_never_conflict",
        "configs naming different primaries have different epochs (configs ordered by epoch)",
        [
            "lemma (b): at most one leader per epoch",
            "epoch persisted (fsync honoured) before a leader acts; a restart recovers it",
        ],
        premises,
        goal,
        [
            (
                "the restart rule (restarted daemon resumes its persisted epoch)",
                without(restart_rule),
            ),
            ("ElectionSafety (lemma (b))", without(election_safety)),
            ("one primary per epoch per leader", without(remembers)),
        ],
    )


# ---------------------------------------------------------------------------------------------
# (d) The abstract invariant is inductive
# ---------------------------------------------------------------------------------------------


def invariant_is_inductive() -> ProofResult:
    """(d) Inv(s) and a transition s -> s' of `abstract.py` imply Inv(s'), for each transition
    (grant_vote, adopt_epoch, take_leadership, publish_config, restart), with unboundedly many
    daemons, nodes and epochs.  Also: no transition lowers any daemon's epoch, and votes only
    accumulate.  Inv is `abstract.violations(s) == []` (cross-checked against the code on
    random concrete states by the tests), so every reachable abstract state satisfies it.

    `take_leadership` is encoded *without* its ElectionSafety guard, so the proof shows that
    guard is implied by the majority and one-vote rules.  Majority is an uninterpreted
    predicate with two facts about counting: lemma (a) (two majorities of grants share a
    voter) and monotonicity (more grants never lose a majority).  Witnesses drop one guard each
    and show an invariant then breaks.
    """
    parts = [inductive_step(name) for name in TRANSITIONS]
    return _merge(
        "(d) invariant_is_inductive",
        "every abstract transition preserves the abstract invariant; epochs never decrease",
        parts,
    )


# ---------------------------------------------------------------------------------------------
# (e) Joint consensus
# ---------------------------------------------------------------------------------------------


def joint_consensus() -> ProofResult:
    """(e) While the voter set changes from OLD to NEW, a decision needs a majority of OLD and a
    majority of NEW.  Then two decisions always share a voter - also when one of them is made
    under OLD alone (before the change starts) or NEW alone (after it commits) - for any sizes
    and any overlap of the two sets.  Witness: a decision under OLD alone and one under NEW alone
    (skipping the joint phase) can use disjoint quorums.

    Counting: OLD and NEW split their union into OLD-only, both, NEW-only; two quorums Q1, Q2
    split each of those regions four ways (Q1 only, Q2 only, both, neither), 12 non-negative
    sizes.  "Disjoint quorums" means every "both" region is empty.
    """
    regions = ("old_only", "shared", "new_only")
    size = {r: z3.Int(f"|{r}|") for r in regions}
    q1 = {r: z3.Int(f"|Q1 only in {r}|") for r in regions}
    q2 = {r: z3.Int(f"|Q2 only in {r}|") for r in regions}
    both = {r: z3.Int(f"|Q1 and Q2 in {r}|") for r in regions}
    rest = {r: z3.Int(f"|neither in {r}|") for r in regions}
    split: list[z3.BoolRef] = []
    for r in regions:
        split += [q1[r] >= 0, q2[r] >= 0, both[r] >= 0, rest[r] >= 0, size[r] >= 0]
        split.append(q1[r] + q2[r] + both[r] + rest[r] == size[r])
    n_old = size["old_only"] + size["shared"]
    n_new = size["new_only"] + size["shared"]
    split += [n_old >= 1, n_new >= 1]

    def count(mine: dict[str, z3.ArithRef], rs: Sequence[str]) -> z3.ArithRef:
        return z3.Sum([mine[r] + both[r] for r in rs])

    old_rs, new_rs = ("old_only", "shared"), ("shared", "new_only")

    def maj_old(mine: dict[str, z3.ArithRef]) -> z3.BoolRef:
        return count(mine, old_rs) >= n_old / 2 + 1

    def maj_new(mine: dict[str, z3.ArithRef]) -> z3.BoolRef:
        return count(mine, new_rs) >= n_new / 2 + 1

    def joint(mine: dict[str, z3.ArithRef]) -> z3.BoolRef:
        return z3.And(maj_old(mine), maj_new(mine))

    share = z3.Sum(list(both.values())) >= 1
    cases: list[tuple[str, z3.BoolRef, z3.BoolRef]] = [
        ("joint vs joint", joint(q1), joint(q2)),
        ("joint vs old-only", joint(q1), maj_old(q2)),
        ("joint vs new-only", joint(q1), maj_new(q2)),
    ]
    # Without the joint phase one decision could be made under OLD alone and the other under NEW
    # alone; each case's witness weakens it that way.
    skip_joint = [
        [*split, maj_old(q1), maj_new(q2)],
        [*split, maj_new(q1), maj_old(q2)],
        [*split, maj_old(q1), maj_new(q2)],
    ]
    parts = [
        _prove(
            f"(e) {name}",
            name,
            ["finite sets: region sizes are non-negative and add up"],
            [*split, first, second],
            share,
            [(f"the joint phase ({name}: OLD alone against NEW alone)", weaker)],
        )
        for (name, first, second), weaker in zip(cases, skip_joint, strict=True)
    ]
    return _merge(
        "(e) joint_consensus",
        "with joint majorities (OLD and NEW), any two decisions share a voter, also against "
        "decisions made under OLD alone or NEW alone",
        parts,
    )


# ---------------------------------------------------------------------------------------------


LEMMAS: tuple[Callable[[], ProofResult], ...] = (
    majorities_intersect,
    one_leader_per_epoch,
    configs_never_conflict,
    invariant_is_inductive,
    joint_consensus,
)


def prove_all() -> list[ProofResult]:
    """Run every lemma (a)-(e); a few seconds in total."""
    return [lemma() for lemma in LEMMAS]


def main(argv: Sequence[str] | None = None) -> int:
    results = prove_all()
    for r in results:
        print(r.summary())
        print()
    bad = [r.lemma for r in results if not r.ok]
    total = sum(r.seconds for r in results)
    print(f"{len(results) - len(bad)}/{len(results)} lemmas proved non-vacuously in {total:.2f}s")
    if bad:
        print("FAILED: " + ", ".join(bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
