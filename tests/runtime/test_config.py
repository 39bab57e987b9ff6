"""Configuration: file formats, precedence, and clear errors (the timing rule included)."""

from __future__ import annotations

import dataclasses

import pytest

from gungnir.core import Settings
from gungnir.runtime.config import (
    DAEMON_KEYS,
    ENV,
    GROUP_RUNTIME_KEYS,
    ConfigError,
    load,
    parse_address,
)

BASE = {
    "daemon": {"id": "d1", "state_dir": "/tmp/x", "secret": "s3cret-s3cret"},
    "peers": {"d1": "127.0.0.1:7001", "d2": "127.0.0.1:7002", "d3": "127.0.0.1:7003"},
    "groups": {"cache": {"nodes": {"a": "127.0.0.1:6379", "b": "127.0.0.1:6380"}}},
}


def doc(**group):
    d = {k: dict(v) for k, v in BASE.items()}
    d["groups"] = {"cache": {**BASE["groups"]["cache"], **group}}
    return d


def test_minimal_document():
    cfg = load(doc=doc(), env={})
    assert cfg.bind == ("127.0.0.1", 7001)
    assert cfg.groups["cache"].settings.voters == ("d1", "d2", "d3")
    assert cfg.groups["cache"].nodes["b"] == ("127.0.0.1", 6380)
    assert set(cfg.other_peers) == {"d2", "d3"}


def test_yaml_and_toml_files_agree(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text(
        "daemon: {id: d1, state_dir: /tmp/x, secret: s3cret-s3cret}\n"
        "peers: {d1: '127.0.0.1:7001', d2: '127.0.0.1:7002', d3: '127.0.0.1:7003'}\n"
        "groups:\n  cache:\n    nodes: {a: '127.0.0.1:6379'}\n    down_after: 1.5\n"
    )
    t = tmp_path / "c.toml"
    t.write_text(
        '[daemon]\nid = "d1"\nstate_dir = "/tmp/x"\nsecret = "s3cret-s3cret"\n'
        '[peers]\nd1 = "127.0.0.1:7001"\nd2 = "127.0.0.1:7002"\nd3 = "127.0.0.1:7003"\n'
        '[groups.cache]\ndown_after = 1.5\n[groups.cache.nodes]\na = "127.0.0.1:6379"\n'
    )
    a, b = load(y, env={}), load(t, env={})
    assert a.groups["cache"].settings == b.groups["cache"].settings
    assert a.groups["cache"].settings.down_after == 1.5


def test_precedence_flags_over_env_over_file():
    cfg = load(doc=doc(), env={"GUNGNIR_STATE_DIR": "/env"}, overrides={})
    assert str(cfg.state_dir) == "/env"
    cfg = load(doc=doc(), env={"GUNGNIR_STATE_DIR": "/env"}, overrides={"state_dir": "/flag"})
    assert str(cfg.state_dir) == "/flag"


def test_timing_rule_is_checked_with_the_fix_named():
    with pytest.raises(ConfigError, match=r"timing rule broken.*promote_after"):
        load(doc=doc(fence_after=3.0, promote_after=3.2), env={})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"voters": ["d1", "d2"]}, "3 or 5"),
        ({"voters": ["d1", "d2", "d9"]}, "not in peers"),
        ({"nodes": {}}, "nodes must map"),
        ({"nodes": {"a": "nohost"}}, "host:port"),
        ({"bogus": 1}, "unknown keys"),
        ({"quorum": 5}, "quorum 5 > 3"),
        ({"probe_timeout": 9.0}, "probe_timeout"),
        ({"probe_timeout": "abc"}, r"groups\.cache\.probe_timeout must be a number, got 'abc'"),
        ({"action_timeout": "abc"}, r"groups\.cache\.action_timeout must be a number"),
        ({"probe_timeout": None}, r"probe_timeout must be a number, got None"),
        ({"action_timeout": True}, r"action_timeout must be a number, got True"),
        ({"probe_timeout": float("nan")}, r"probe_timeout must be a number, got nan"),
        ({"action_timeout": "inf"}, r"action_timeout must be a number, got 'inf'"),
        ({"action_timeout": [1]}, r"action_timeout must be a number"),
        ({"action_timeout": 0}, "must be > 0"),
        ({"quorum": 2.5}, r"quorum must be a whole number, got 2\.5"),
    ],
)
def test_group_errors(change, message):
    with pytest.raises(ConfigError, match=message):
        load(doc=doc(**change), env={})


#: Every numeric key of a group: the loader's own and the core's Settings numbers.
NUMERIC_KEYS = sorted(
    {"probe_timeout", "action_timeout"}
    | {f.name for f in dataclasses.fields(Settings) if f.type in ("int", "float")}
)


@pytest.mark.parametrize("key", NUMERIC_KEYS)
@pytest.mark.parametrize("fmt", ["doc", "yaml", "toml"])
def test_non_numeric_values_are_config_errors_naming_the_key(tmp_path, key, fmt):
    """``key: "abc"`` is a ConfigError that names the key, never a bare ValueError."""
    if fmt == "doc":
        with pytest.raises(ConfigError, match=rf"groups\.cache\.{key} must be a "):
            load(doc=doc(**{key: "abc"}), env={})
        return
    path = tmp_path / f"c.{fmt}"
    if fmt == "yaml":
        path.write_text(
            "daemon: {id: d1, state_dir: /tmp/x, secret: s3cret-s3cret}\n"
            "peers: {d1: '127.0.0.1:7001', d2: '127.0.0.1:7002', d3: '127.0.0.1:7003'}\n"
            f"groups:\n  cache:\n    nodes: {{a: '127.0.0.1:6379'}}\n    {key}: abc\n"
        )
    else:
        path.write_text(
            '[daemon]\nid = "d1"\nstate_dir = "/tmp/x"\nsecret = "s3cret-s3cret"\n'
            '[peers]\nd1 = "127.0.0.1:7001"\nd2 = "127.0.0.1:7002"\nd3 = "127.0.0.1:7003"\n'
            f'[groups.cache]\n{key} = "abc"\n[groups.cache.nodes]\na = "127.0.0.1:6379"\n'
        )
    with pytest.raises(ConfigError, match=rf"{path}: groups\.cache\.{key} must be a "):
        load(path, env={})


def test_numbers_written_as_text_are_read_as_numbers():
    """A quoted number is still the number (as before), for every numeric key alike."""
    g = load(
        doc=doc(probe_timeout="0.25", action_timeout="2", down_after="1.5", quorum="2"), env={}
    ).groups["cache"]
    assert (g.probe_timeout, g.action_timeout) == (0.25, 2.0)
    assert g.settings.down_after == 1.5 and g.settings.quorum == 2
    assert isinstance(g.settings.quorum, int)


def test_environment_and_flags_carry_no_numeric_setting():
    """Numeric settings come only from the file: the environment and flags set daemon keys,
    none of them a number (addresses are parsed and checked by ``parse_address``)."""
    assert not (set(ENV.values()) | DAEMON_KEYS) & set(NUMERIC_KEYS)
    assert not DAEMON_KEYS & GROUP_RUNTIME_KEYS
    plain = load(doc=doc(), env={}).groups["cache"]
    cfg = load(doc=doc(), env={"GUNGNIR_PROBE_TIMEOUT": "abc", "GUNGNIR_DOWN_AFTER": "abc"})
    assert cfg.groups["cache"] == plain  # ignored: no such variables


def test_daemon_errors(tmp_path):
    d = doc()
    del d["daemon"]["secret"]
    with pytest.raises(ConfigError, match="shared secret is required"):
        load(doc=d, env={})
    d = doc()
    d["daemon"]["state_dir"] = ""
    with pytest.raises(ConfigError, match="state_dir is required"):
        load(doc=d, env={})
    bad = tmp_path / "bad.yaml"
    bad.write_text("daemon: [unclosed")
    with pytest.raises(ConfigError, match="not valid"):
        load(bad, env={})
    with pytest.raises(ConfigError, match="cannot read"):
        load(tmp_path / "missing.yaml", env={})


def test_parse_address_forms():
    assert parse_address("[::1]:80", "x") == ("::1", 80)
    with pytest.raises(ConfigError):
        parse_address("h:99999", "x")


def test_an_id_missing_from_peers_names_the_peers():
    """Issue 22: ``id: d9`` used to get "daemon.bind is required when this daemon is not
    listed in peers", which sends the operator after the wrong key."""
    d = doc()
    d["daemon"]["id"] = "d9"
    with pytest.raises(ConfigError, match=r"daemon\.id d9 is not in peers: d1, d2, d3;") as exc:
        load(doc=d, env={})
    assert "did you mean" not in str(exc.value)  # d9 is as far from d1 as from d3
    d["daemon"]["id"] = "dd1"
    with pytest.raises(ConfigError, match=r"is not in peers: d1, d2, d3 \(did you mean 'd1'\?\)"):
        load(doc=d, env={})
    d["daemon"]["bind"] = "127.0.0.1:7009"  # on purpose: a daemon outside the peers
    d["groups"]["cache"]["voters"] = ["d1", "d2", "d3"]
    assert load(doc=d, env={}).bind == ("127.0.0.1", 7009)


@pytest.mark.parametrize(
    ("section", "typo", "meant"),
    [
        ("top", "group", "groups"),
        ("daemon", "state_dirs", "state_dir"),
        ("daemon", "metric_bind", "metrics_bind"),
        ("group", "promote_afer", "promote_after"),
        ("group", "pasword", "password"),
    ],
)
def test_an_unknown_key_gets_a_did_you_mean(section, typo, meant):
    d = doc()
    if section == "top":
        d[typo] = {}
    elif section == "daemon":
        d["daemon"][typo] = "x"
    else:
        d["groups"]["cache"][typo] = 1
    with pytest.raises(ConfigError, match=rf"unknown keys '{typo}' \(did you mean '{meant}'\?\)"):
        load(doc=d, env={})


def test_an_unknown_key_far_from_every_known_one_gets_no_guess():
    d = doc(zzz=1)
    with pytest.raises(ConfigError, match=r"unknown keys 'zzz'; known: ") as exc:
        load(doc=d, env={})
    assert "did you mean" not in str(exc.value)
