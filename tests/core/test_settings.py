import pytest

from gungnir.core import Settings, SettingsError, describe_settings


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
        ({"promote_after": 2.0}, "timing rule"),
        ({"policy": "consistency", "failover_timeout": 9.0}, "failover_timeout (9.0) must be >"),
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
    # defaults: promote_after 4.5 + lease (2 + 2 + 0.5 + 0.5) = 9.5
    assert base(policy="consistency", failover_timeout=9.6).failover_timeout == 9.6
    assert base(policy="availability", failover_timeout=9.0).failover_timeout == 9.0
