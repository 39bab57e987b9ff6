"""Configuration: file formats, precedence, and clear errors (the timing rule included)."""

from __future__ import annotations

import pytest

from gungnir.runtime.config import ConfigError, load, parse_address

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
    ],
)
def test_group_errors(change, message):
    with pytest.raises(ConfigError, match=message):
        load(doc=doc(**change), env={})


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
