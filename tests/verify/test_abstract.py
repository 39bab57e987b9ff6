"""The abstract election model: each invariant caught, each forbidden step refused, and random
runs of allowed steps never reaching a violating state."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gungnir.verify import abstract as ab
from gungnir.verify.abstract import AbstractState, ModelViolation

VOTERS = frozenset({"a", "b", "c"})


def elected(
    epoch: int = 1, leader: str = "a", grants: tuple[str, ...] = ("a", "b")
) -> AbstractState:
    """A valid state: `leader` won `epoch` with `grants` and published a config."""
    s = ab.initial_state(VOTERS)
    for v in grants:
        s = ab.grant_vote(s, v, epoch, leader)
    s = ab.take_leadership(s, leader, epoch, frozenset(grants))
    return ab.publish_config(s, leader, epoch, "n1")


def state(**fields: object) -> AbstractState:
    base: dict[str, object] = {
        "voters": VOTERS,
        "epochs": frozenset({("a", 1), ("b", 1), ("c", 1)}),
    }
    base.update(fields)
    return AbstractState(**base)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# violations(): valid states pass
# ---------------------------------------------------------------------------------------------


def test_initial_and_elected_states_are_valid() -> None:
    assert ab.violations(ab.initial_state(VOTERS)) == []
    s = elected()
    assert ab.violations(s) == []
    assert s.leaders == {(1, "a")} and s.configs == {(1, "n1")}
    assert ab.current_epoch(s, "a") == 1 and ab.current_epoch(s, "c") == 0


def test_multi_epoch_history_with_restart_is_valid() -> None:
    s = elected()
    s = ab.restart(s, "a", 1, "a")
    s = ab.adopt_epoch(s, "a", 2)
    for v in ("a", "c"):
        s = ab.grant_vote(s, v, 2, "a")
    s = ab.take_leadership(s, "a", 2, frozenset({"a", "c"}))
    s = ab.publish_config(s, "a", 2, "n2")
    assert ab.violations(s) == []
    assert s.restarted_at == {("a", 1)}
    assert s.configs == {(1, "n1"), (2, "n2")}


# ---------------------------------------------------------------------------------------------
# violations(): each invariant caught by a hand-made violating state
# ---------------------------------------------------------------------------------------------

VIOLATING = [
    (
        ab.VOTER_MEMBERSHIP,
        state(votes=frozenset({("x", 1, "a")}), epochs=frozenset({("x", 1)})),
    ),
    (
        ab.ONE_VOTE_PER_EPOCH,
        state(votes=frozenset({("b", 1, "a"), ("b", 1, "c")})),
    ),
    (
        ab.LEADER_HAS_MAJORITY,
        state(votes=frozenset({("a", 1, "a")}), leaders=frozenset({(1, "a")})),
    ),
    (
        # Majority counts the fixed voter set only: grants from outsiders do not help.
        ab.LEADER_HAS_MAJORITY,
        state(
            votes=frozenset({("a", 1, "a"), ("x", 1, "a"), ("y", 1, "a")}),
            leaders=frozenset({(1, "a")}),
            epochs=frozenset({("a", 1), ("x", 1), ("y", 1)}),
        ),
    ),
    (
        ab.ELECTION_SAFETY,
        state(
            votes=frozenset({("a", 1, "a"), ("b", 1, "a"), ("b", 1, "c"), ("c", 1, "c")}),
            leaders=frozenset({(1, "a"), (1, "c")}),
        ),
    ),
    (
        ab.CONFIG_FROM_LEADER,
        state(configs=frozenset({(1, "n1")})),
    ),
    (
        ab.CONFIG_UNIQUENESS,
        state(
            votes=frozenset({("a", 1, "a"), ("b", 1, "a")}),
            leaders=frozenset({(1, "a")}),
            configs=frozenset({(1, "n1"), (1, "n2")}),
        ),
    ),
    (
        ab.EPOCH_MONOTONIC,  # voted in an epoch it is below
        state(votes=frozenset({("a", 2, "a")})),
    ),
    (
        ab.EPOCH_MONOTONIC,  # leads an epoch it is below
        state(
            votes=frozenset({("a", 1, "a"), ("b", 1, "a")}),
            leaders=frozenset({(1, "a")}),
            epochs=frozenset({("a", 0), ("b", 1), ("c", 1)}),
        ),
    ),
    (
        ab.EPOCH_MONOTONIC,  # below the epoch it recovered at its restart
        state(restarted_at=frozenset({("b", 3)})),
    ),
    (
        ab.EPOCH_MONOTONIC,  # two current epochs
        state(epochs=frozenset({("a", 1), ("a", 2), ("b", 1), ("c", 1)})),
    ),
]


@pytest.mark.parametrize(
    ("rule", "s"), VIOLATING, ids=[f"{r}-{i}" for i, (r, _) in enumerate(VIOLATING)]
)
def test_each_invariant_is_caught(rule: str, s: AbstractState) -> None:
    found = ab.violations(s)
    assert rule in found
    assert len(found) == len(set(found)), "each name reported once"
    assert all(name in ab.RULES for name in found)
    details = ab.describe_violations(s)
    assert any(name == rule and detail for name, detail in details)


def test_only_the_broken_invariant_is_named() -> None:
    # A config without a leader breaks ConfigFromLeader and nothing else.
    assert ab.violations(state(configs=frozenset({(1, "n1")}))) == [ab.CONFIG_FROM_LEADER]
    assert ab.violations(state(votes=frozenset({("b", 1, "a"), ("b", 1, "c")}))) == [
        ab.ONE_VOTE_PER_EPOCH
    ]


def test_majority_boundary() -> None:
    five = frozenset("abcde")
    two = AbstractState(
        voters=five,
        votes=frozenset({("a", 1, "a"), ("b", 1, "a")}),
        leaders=frozenset({(1, "a")}),
        epochs=frozenset((v, 1) for v in five),
    )
    assert ab.violations(two) == [ab.LEADER_HAS_MAJORITY]
    three = AbstractState(
        voters=five,
        votes=two.votes | {("c", 1, "a")},
        leaders=two.leaders,
        epochs=two.epochs,
    )
    assert ab.violations(three) == []
    assert [ab.majority(n) for n in range(1, 7)] == [1, 2, 2, 3, 3, 4]


# ---------------------------------------------------------------------------------------------
# Transitions: each forbidden step refused with its rule
# ---------------------------------------------------------------------------------------------


def refused(rule: str, fn: object, *args: object) -> ModelViolation:
    with pytest.raises(ModelViolation) as info:
        fn(*args)  # type: ignore[operator]
    assert info.value.rule == rule
    assert rule in str(info.value)
    return info.value


def test_grant_vote_rules() -> None:
    s = ab.grant_vote(ab.initial_state(VOTERS), "b", 1, "a")
    assert ab.grant_vote(s, "b", 1, "a") == s  # a duplicated request gets the same answer
    refused(ab.ONE_VOTE_PER_EPOCH, ab.grant_vote, s, "b", 1, "c")
    refused(ab.VOTER_MEMBERSHIP, ab.grant_vote, s, "observer", 1, "a")
    s2 = ab.adopt_epoch(s, "b", 3)
    refused(ab.VOTE_NOT_STALE, ab.grant_vote, s2, "b", 2, "a")
    assert ab.current_epoch(ab.grant_vote(s2, "b", 5, "c"), "b") == 5


def test_adopt_epoch_never_goes_back() -> None:
    s = ab.adopt_epoch(ab.initial_state(VOTERS), "a", 4)
    assert ab.adopt_epoch(s, "a", 4) == s
    refused(ab.EPOCH_MONOTONIC, ab.adopt_epoch, s, "a", 3)


def test_take_leadership_rules() -> None:
    s = ab.grant_vote(ab.initial_state(VOTERS), "a", 1, "a")
    refused(ab.LEADER_HAS_MAJORITY, ab.take_leadership, s, "a", 1)
    refused(ab.LEADER_HAS_MAJORITY, ab.take_leadership, s, "a", 1, frozenset({"a"}))
    # Counting a grant that was never made is refused even if the real grants would suffice.
    s = ab.grant_vote(s, "b", 1, "a")
    err = refused(ab.LEADER_HAS_MAJORITY, ab.take_leadership, s, "a", 1, frozenset({"a", "c"}))
    assert "c" in err.message
    led = ab.take_leadership(s, "a", 1, frozenset({"a", "b"}))
    assert (1, "a") in led.leaders
    # Inconsistent input (two majorities) is still refused with a clear message.
    forged = AbstractState(
        VOTERS,
        led.votes | {("b", 1, "c"), ("c", 1, "c")},
        led.leaders,
        epochs=led.epochs,
    )
    refused(ab.ELECTION_SAFETY, ab.take_leadership, forged, "c", 1)


def test_publish_config_rules() -> None:
    s = elected()
    assert ab.publish_config(s, "a", 1, "n1") == s
    refused(ab.CONFIG_UNIQUENESS, ab.publish_config, s, "a", 1, "n2")
    refused(ab.CONFIG_FROM_LEADER, ab.publish_config, s, "b", 1, "n1")
    refused(ab.CONFIG_FROM_LEADER, ab.publish_config, s, "a", 2, "n1")


def test_restart_rules() -> None:
    s = elected()
    refused(ab.EPOCH_MONOTONIC, ab.restart, s, "a", 0, None)
    refused(ab.VOTE_DURABLE, ab.restart, s, "b", 1, None)  # forgot its vote
    refused(ab.VOTE_DURABLE, ab.restart, s, "b", 1, "c")  # remembers another one
    # A persisted vote the log never showed counts as granted.
    r = ab.restart(s, "c", 1, "a")
    assert ("c", 1, "a") in r.votes and r.restarted_at == {("c", 1)}
    # A restarted leader forgets its leadership: no leading, publishing or promoting at <= 1.
    r = ab.restart(s, "a", 1, "a")
    refused(ab.RESTART_FRESH_EPOCH, ab.take_leadership, r, "a", 1)
    refused(ab.RESTART_FRESH_EPOCH, ab.publish_config, r, "a", 1, "n1")
    ab.check_promote(r, "a", 1, "n1")  # re-asserting the published config is reconciliation
    # The last restart counts: a later restart at a higher epoch replaces the entry.
    r2 = ab.restart(ab.adopt_epoch(r, "a", 3), "a", 3, None)
    assert r2.restarted_at == {("a", 3)}
    refused(ab.EPOCH_MONOTONIC, ab.restart, r2, "a", 2, None)


def test_node_action_checks() -> None:
    s = elected()
    ab.check_promote(s, "a", 1, "n1")
    ab.check_promote(s, "b", 1, "n1")  # reconciling towards the published config
    refused(ab.CONFIG_UNIQUENESS, ab.check_promote, s, "a", 1, "n2")
    refused(ab.CONFIG_UNIQUENESS, ab.check_promote, s, "b", 1, "n2")
    # Before the config exists only the (live) leader decides.
    s = ab.grant_vote(ab.grant_vote(s, "b", 2, "b"), "c", 2, "b")
    s = ab.take_leadership(s, "b", 2)
    ab.check_promote(s, "b", 2, "n3")
    refused(ab.PROMOTE_BY_LEADER, ab.check_promote, s, "a", 2, "n3")
    refused(ab.RESTART_FRESH_EPOCH, ab.check_promote, ab.restart(s, "b", 2, "b"), "b", 2, "n3")
    ab.check_promote(ab.initial_state(VOTERS), "b", 0, "n1")  # bootstrap epoch: not elected
    ab.check_repoint(s, "b", 1, "n3", "n1")
    ab.check_repoint(s, "b", 7, "n3", "n9")  # no config for epoch 7: nothing to contradict
    refused(ab.REPOINT_FOLLOWS_CONFIG, ab.check_repoint, s, "b", 1, "n3", "n2")


def test_transitions_are_pure() -> None:
    s = elected()
    before = (s, hash(s))
    for fn, args in [
        (ab.grant_vote, ("c", 2, "c")),
        (ab.adopt_epoch, ("b", 9)),
        (ab.restart, ("a", 1, "a")),
        (ab.publish_config, ("a", 1, "n1")),
    ]:
        fn(s, *args)  # type: ignore[operator]
    assert (s, hash(s)) == before
    assert s == elected() and hash(s) == hash(elected())


# ---------------------------------------------------------------------------------------------
# Random runs of allowed transitions never violate an invariant
# ---------------------------------------------------------------------------------------------

DAEMONS = ["a", "b", "c", "d", "o"]  # "o" is an observer outside the voter set
NODES = ["n1", "n2", "n3"]

step_strategy = st.one_of(
    st.tuples(
        st.just("grant"), st.sampled_from(DAEMONS), st.integers(0, 4), st.sampled_from(DAEMONS)
    ),
    st.tuples(st.just("adopt"), st.sampled_from(DAEMONS), st.integers(0, 4)),
    st.tuples(st.just("lead"), st.sampled_from(DAEMONS), st.integers(0, 4)),
    st.tuples(
        st.just("publish"), st.sampled_from(DAEMONS), st.integers(0, 4), st.sampled_from(NODES)
    ),
    st.tuples(
        st.just("restart"),
        st.sampled_from(DAEMONS),
        st.integers(0, 4),
        st.one_of(st.none(), st.sampled_from(DAEMONS)),
    ),
)


def apply(s: AbstractState, step: tuple) -> AbstractState:  # type: ignore[type-arg]
    kind, *args = step
    fn = {
        "grant": ab.grant_vote,
        "adopt": ab.adopt_epoch,
        "lead": ab.take_leadership,
        "publish": ab.publish_config,
        "restart": ab.restart,
    }[kind]
    return fn(s, *args)  # type: ignore[operator, no-any-return]


@settings(max_examples=300, deadline=None)
@given(
    voters=st.sampled_from([frozenset("a"), frozenset("ab"), frozenset("abc"), frozenset("abcd")]),
    steps=st.lists(step_strategy, max_size=60),
)
def test_allowed_transitions_never_violate(voters: frozenset[str], steps: list[tuple]) -> None:  # type: ignore[type-arg]
    s = ab.initial_state(voters)
    for step in steps:
        try:
            s2 = apply(s, step)
        except ModelViolation as v:
            assert v.rule in ab.RULES
            continue
        assert ab.violations(s2) == [], (step, s2)
        # epochs never decrease
        for d, e in s.epochs:
            assert ab.current_epoch(s2, d) >= e
        s = s2


def test_random_walk_reaches_interesting_states() -> None:
    """The property above is not vacuous: allowed steps do elect leaders, publish configs and
    restart daemons, across several epochs, and refusals happen for every kind of step."""
    rng = random.Random(5)
    s = ab.initial_state(frozenset("abc"))
    refusals: set[str] = set()
    for _ in range(5_000):
        d = rng.choice(DAEMONS)
        top = max(e for _, e in s.epochs)
        e = max(0, top - 1 + rng.randrange(3))
        kind = rng.choice(
            ["grant", "grant", "grant", "adopt", "lead", "lead", "publish", "restart"]
        )
        step: tuple = {  # type: ignore[type-arg]
            "grant": (kind, d, e, rng.choice(DAEMONS)),
            "adopt": (kind, d, e),
            "lead": (kind, d, e),
            "publish": (
                kind,
                *rng.choice(sorted((x, y) for y, x in s.leaders) or [(d, e)]),
                rng.choice(NODES),
            ),
            "restart": (kind, d, ab.current_epoch(s, d), rng.choice([None, d, "a"])),
        }[kind]
        try:
            s = apply(s, step)
        except ModelViolation as v:
            refusals.add(v.rule)
            continue
        assert ab.violations(s) == []
    assert len(s.leaders) >= 3 and len(s.configs) >= 3 and s.restarted_at
    assert len({e for e, _ in s.leaders}) == len(s.leaders)
    assert {
        ab.ONE_VOTE_PER_EPOCH,
        ab.LEADER_HAS_MAJORITY,
        ab.CONFIG_FROM_LEADER,
        ab.CONFIG_UNIQUENESS,
        ab.EPOCH_MONOTONIC,
        ab.VOTER_MEMBERSHIP,
        ab.VOTE_NOT_STALE,
    } <= refusals
