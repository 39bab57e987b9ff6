import pytest
from hypothesis import given
from hypothesis import strategies as st

from gungnir.core import Settings, SettingsError, describe_settings
from gungnir.core.settings import (
    DERIVED_RULE,
    DERIVED_TIMINGS,
    derive_timings,
    fence_margin,
    peer_link_timeout,
)


def base(**kw: object) -> Settings:
    args: dict[str, object] = {"group": "g", "voters": ("a", "b", "c"), "nodes": ("n1", "n2")}
    args.update(kw)
    return Settings(**args)  # type: ignore[arg-type]


def test_defaults_are_valid_and_derived_values() -> None:
    s = base()
    assert s.majority == 2
    assert s.node_majority == 2
    assert s.write_quorum == 0
    assert base(policy="consistency", nodes=("a", "b", "c", "d", "e")).write_quorum == 2


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"quorum": 4}, "quorum 4 > 3 voters"),
        ({"down_after": 0}, "down_after must be > 0"),
        ({"down_after": -1.0}, "down_after must be > 0"),
        ({"voters": ("a", "b", "c", "d")}, "3 or 5"),
        ({"voters": ("a", "a", "b")}, "duplicates"),
        ({"policy": "yolo"}, "policy must be one of"),
        ({"promote_after": 1.5}, "timing rule"),
        ({"down_after": 1.0, "promote_after": 0.6}, "timing rule"),
        ({"down_after": "1"}, "down_after must be > 0"),
        ({"policy": "consistency", "failover_timeout": 7.0}, "failover_timeout (7.0) must be >"),
        ({"parallel_syncs": 0}, "parallel_syncs"),
        ({"initial_primary": "zz"}, "initial_primary"),
        ({"nodes": ["n1"]}, "tuple"),
    ],
)
def test_bad_settings_have_clear_errors(changes: dict[str, object], fragment: str) -> None:
    with pytest.raises(SettingsError) as err:
        base(**changes)
    assert fragment in str(err.value)
    assert "'g'" in str(err.value)


def test_replace_revalidates() -> None:
    with pytest.raises(SettingsError):
        base().replace(quorum=9)


def test_describe_settings_lists_every_field_with_help() -> None:
    rows = describe_settings()
    names = [r["name"] for r in rows]
    assert "quorum" in names and "policy" in names and "promote_after" in names
    assert all(r["help"] for r in rows)
    assert next(r for r in rows if r["name"] == "group")["required"] is True
    assert next(r for r in rows if r["name"] == "quorum")["default"] == 2


def test_lease_covers_valkeys_whole_second_lag_and_once_a_second_recount() -> None:
    s = base(min_replicas_max_lag=2.0, lease_margin=0.5, max_clock_drift=0.25)
    # max-lag + 1 for the whole-second rounding, + 1 for replicationCron's recount
    assert s.lease == pytest.approx(2.0 + 2.0 + 0.5 + 0.25)
    # the worst window measured by gungnir.faults.leaseprobe (--max-lag 2) was 3.36 s
    assert base(min_replicas_max_lag=2.0, lease_margin=0.0, max_clock_drift=0.0).lease > 3.36


def test_failover_timeout_must_outlast_promote_after_plus_lease_only_under_consistency() -> None:
    # defaults: promote_after 3.0 + lease (2 + 2 + 0.5 + 0.15) = 7.65
    assert base(policy="consistency", failover_timeout=7.7).failover_timeout == 7.7
    assert base(policy="availability", failover_timeout=7.0).failover_timeout == 7.0


# -- the one knob: timings derived from down_after --------------------------------------------

DOWN_AFTER = st.floats(min_value=0.01, max_value=3600.0, allow_nan=False, allow_infinity=False)


def rule_slack(s: Settings) -> float:
    """How far promote_after is above the timing rule's bound."""
    return s.promote_after - (s.fence_after + s.probe_interval + s.max_clock_drift)


@given(DOWN_AFTER, st.sampled_from(["availability", "consistency"]))
def test_down_after_alone_derives_valid_timings_that_keep_the_margin(
    down: float, policy: str
) -> None:
    s = base(down_after=down, policy=policy)  # validated, or this raises
    assert rule_slack(s) >= fence_margin(s.probe_interval) - 1e-6
    # the margin: a beat and the peer-link timeout, never less than the old three probes
    assert fence_margin(s.probe_interval) >= 3 * s.probe_interval
    assert fence_margin(s.probe_interval) > peer_link_timeout(s.probe_interval)
    assert s.probe_interval <= down / 20 + 1e-6  # detection is late by at most 1/20
    assert s.promote_after >= down - 1e-6  # never before the dead primary is seen down
    assert s.failover_timeout > s.promote_after + s.lease


@given(DOWN_AFTER)
def test_promote_after_is_down_after_from_well_under_a_second(down: float) -> None:
    """promote_after costs nothing on top of detection once the margin fits in down_after
    (0.65 down_after + 0.2 s <= down_after, from about 0.58 s on)."""
    s = base(down_after=down)
    if down >= 0.6:
        assert s.promote_after == pytest.approx(down)
    else:
        assert s.promote_after > down


@given(
    DOWN_AFTER,
    st.floats(min_value=0.01, max_value=2.0),
    st.floats(min_value=0.01, max_value=30.0),
    st.floats(min_value=0.0, max_value=1.0),
)
def test_given_timings_override_and_the_derived_ones_keep_the_margin(
    down: float, probe: float, fence: float, drift: float
) -> None:
    s = base(down_after=down, probe_interval=probe, fence_after=fence, max_clock_drift=drift)
    assert (s.probe_interval, s.fence_after, s.max_clock_drift) == (probe, fence, drift)
    assert rule_slack(s) >= fence_margin(probe) - 1e-6


def test_the_rule_at_one_second() -> None:
    """The numbers docs/tuning.md quotes for ``down_after: 1.0``."""
    s = base(down_after=1.0)
    assert (s.probe_interval, s.fence_after, s.max_clock_drift) == (0.05, 0.5, 0.05)
    assert (s.report_ttl, s.election_timeout, s.election_jitter) == (2.0, 1.0, 0.2)
    assert (s.promote_after, s.failover_timeout) == (1.0, 30.0)


def test_explicit_values_win_even_when_they_equal_the_old_defaults() -> None:
    s = base(down_after=1.0, promote_after=4.5, probe_interval=0.5)
    assert (s.promote_after, s.probe_interval) == (4.5, 0.5)
    assert s.fence_after == 0.5  # still derived


def test_replace_derives_again_what_was_derived_and_keeps_what_was_given() -> None:
    s = base(down_after=1.0, fence_after=0.4)
    t = s.replace(down_after=2.0)
    assert t.probe_interval == 0.1 and t.promote_after == 2.0 and t.fence_after == 0.4
    assert t == base(down_after=2.0, fence_after=0.4)
    # a given fence_after longer than the derived promote_after allows moves promote_after
    u = s.replace(fence_after=2.0)
    assert u.promote_after == pytest.approx(2.0 + 0.05 + 0.05 + fence_margin(0.05))
    assert s.replace(quorum=3) == base(down_after=1.0, fence_after=0.4, quorum=3)


def test_derive_timings_is_the_rule_settings_apply() -> None:
    assert set(DERIVED_RULE) == set(DERIVED_TIMINGS)
    s = base(down_after=1.7, policy="consistency", min_replicas_max_lag=3.0)
    t = derive_timings(1.7, lease_base=3.0 + 2.0 + 0.5)
    assert {n: getattr(s, n) for n in DERIVED_TIMINGS} == t
    rows = {r["name"]: r for r in describe_settings()}
    assert rows["probe_interval"]["default"] == "derived: down_after / 20, at most 1"
    assert rows["down_after"]["default"] == 3.0
