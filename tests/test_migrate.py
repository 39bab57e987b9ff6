"""``gungnir migrate-sentinel``: real sentinel.conf files in, loadable daemon configs out.

The slow test runs Valkey's own Sentinel (three of them, against a real group with AUTH),
lets it rewrite its files (myid, epochs, known-replica, known-sentinel), moves the primary
with ``SENTINEL FAILOVER`` so the files name a new primary and a config-epoch, stops the
Sentinels by pid, migrates the files and loads the result with the daemon's own loader.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import stat
import subprocess
from pathlib import Path

import pytest
import redis
import yaml

from gungnir.core.settings import DERIVED_TIMINGS, Settings
from gungnir.local import free_port, start_group, valkey_binary, wait_until
from gungnir.migrate import MigrateError, main, migrate
from gungnir.runtime.config import load
from gungnir.sentinelconf import parse, split_line

NODE_PW = 'node pw "quoted"'
SENTINEL_PW = "sentpw-123"


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


class Sentinels:
    """``valkey-server sentinel.conf --sentinel`` processes, each in its own directory,
    stopped by pid."""

    def __init__(self, count: int, base: Path) -> None:
        self.ports = [free_port() for _ in range(count)]
        self.dirs = [base / f"sentinel-{i}" for i in range(count)]
        for d in self.dirs:
            d.mkdir()
        self.procs: list[subprocess.Popen[bytes]] = []

    @property
    def confs(self) -> list[Path]:
        return [d / "sentinel.conf" for d in self.dirs]

    def start(self, body: str) -> None:
        for port, d, conf in zip(self.ports, self.dirs, self.confs, strict=True):
            conf.write_text(
                f"port {port}\nbind 127.0.0.1\ndir {_quote(str(d))}\n"
                f"requirepass {SENTINEL_PW}\nsentinel sentinel-pass {SENTINEL_PW}\n"
                f"sentinel announce-ip 127.0.0.1\nsentinel announce-port {port}\n{body}"
            )
            self.procs.append(
                subprocess.Popen(
                    [valkey_binary(), str(conf), "--sentinel", "--logfile", str(d / "s.log")],
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,
                )
            )

    def client(self, i: int) -> redis.Redis:
        return redis.Redis(port=self.ports[i], password=SENTINEL_PW, socket_timeout=2)

    def wait_files(self, pred: object, what: str) -> None:
        def ok() -> bool:
            for p in self.procs:
                assert p.poll() is None, f"a sentinel exited: {self.logs()}"
            return all(pred(c.read_text()) for c in self.confs)  # type: ignore[operator]

        wait_until(ok, timeout=40, what=what)

    def logs(self) -> str:
        return "\n".join(
            (d / "s.log").read_text()[-800:] for d in self.dirs if (d / "s.log").exists()
        )

    def stop(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                os.kill(p.pid, signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(p.pid, signal.SIGKILL)
                p.wait(5)


@pytest.mark.slow
def test_real_sentinel_files_after_a_failover_migrate_to_loadable_configs(tmp_path):
    with start_group(replicas=2) as g:
        # Auth on the nodes, set after start-up (the local helpers talk without AUTH).
        g.replicas[1].command("CONFIG", "SET", "replica-priority", "0")
        for n in g.nodes:
            n.command("CONFIG", "SET", "masterauth", NODE_PW)
        for n in g.nodes:
            n.command("CONFIG", "SET", "requirepass", NODE_PW)
        s = Sentinels(3, tmp_path)
        try:
            s.start(
                f"sentinel monitor mymaster 127.0.0.1 {g.primary.port} 2\n"
                f"sentinel auth-pass mymaster {_quote(NODE_PW)}\n"
                "sentinel down-after-milliseconds mymaster 5000\n"
                "sentinel failover-timeout mymaster 60000\n"
                "sentinel parallel-syncs mymaster 2\n"
            )
            s.wait_files(
                lambda t: t.count("known-replica") == 2 and t.count("known-sentinel") == 2,
                "every Sentinel to record the replicas and the other Sentinels",
            )
            assert s.client(0).execute_command("SENTINEL", "FAILOVER", "mymaster")
            new = g.replicas[0]  # the other replica has priority 0
            s.wait_files(
                lambda t: (
                    f"sentinel monitor mymaster 127.0.0.1 {new.port} 2" in t
                    and t.count("known-replica") == 2
                ),
                "every Sentinel file to name the new primary",
            )
        finally:
            s.stop()
        texts = [c.read_text() for c in s.confs]
        assert all("sentinel myid" in t and "config-epoch mymaster 1" in t for t in texts)

        secret = tmp_path / "secret"
        secret.write_text("0123456789abcdef0123456789abcdef\n")
        out = tmp_path / "out"
        args = [*map(str, s.confs), "--out-dir", str(out), "--secret-file", str(secret)]
        assert main([*args, "--state-dir", str(tmp_path / "state"), "-q"]) == 0

        files = sorted(out.glob("*.yaml"))
        assert [f.name for f in files] == ["d1.yaml", "d2.yaml", "d3.yaml"]
        configs = [load(f, env={}) for f in files]
        addrs = {("127.0.0.1", p) for p in s.ports}
        node_addrs = {n.address for n in g.nodes}
        for f, cfg in zip(files, configs, strict=True):
            assert stat.S_IMODE(f.stat().st_mode) == 0o600
            assert set(cfg.peers.values()) == addrs
            assert cfg.bind == cfg.peers[cfg.id]
            assert cfg.sentinel_password == SENTINEL_PW
            group = cfg.groups["mymaster"]
            assert set(group.nodes.values()) == node_addrs
            assert group.nodes["mymaster-0"] == new.address, "the current primary is first"
            st = group.settings
            assert (st.quorum, st.down_after, st.failover_timeout) == (2, 5.0, 60.0)
            assert st.parallel_syncs == 2 and st.voters == ("d1", "d2", "d3")
            assert group.password == NODE_PW
            text = f.read_text()
            assert "down-after-milliseconds 5000" in text and "sentinel myid" in text
            assert cfg.state_dir == tmp_path / "state" / cfg.id
        # One file alone: the other daemons are named on the command line (known-sentinel
        # lines are Sentinel's gossip and only cross-check them).
        single = tmp_path / "single.yaml"
        others = [f"--peer=p{i}=127.0.0.1:{p}" for i, p in enumerate(s.ports) if i != 1]
        argv = [str(s.confs[1]), "-o", str(single), "--secret-file", str(secret), "-q"]
        assert main([*argv, *others]) == 0
        one = load(single, env={}, overrides={"state_dir": str(tmp_path / "s1")})
        assert set(one.peers.values()) == addrs
        assert one.peers[one.id] == ("127.0.0.1", s.ports[1])


# -- unit tests on hand-written files ----------------------------------------------------

BASE = """\
port 26379
sentinel announce-ip 10.0.0.{i}
sentinel monitor cache 10.0.1.1 6379 {quorum}
sentinel down-after-milliseconds cache {down}
sentinel known-replica cache 10.0.1.2 6379
sentinel known-replica cache 10.0.1.3 6379
"""


def _deployment(n: int, quorum: int = 2, down: int = 5000) -> list:
    confs = []
    for i in range(1, n + 1):
        others = "".join(
            f"sentinel known-sentinel cache 10.0.0.{j} 26379 {'a' * 40}\n"
            for j in range(1, n + 1)
            if j != i
        )
        confs.append(parse(BASE.format(i=i, quorum=quorum, down=down) + others, f"s{i}.conf"))
    return confs


def _loads(output) -> object:
    doc = {**output.doc, "daemon": {**output.doc["daemon"], "secret": "s" * 16}}
    doc["daemon"].pop("secret_file")
    return load(doc=doc, env={})


def test_split_line_follows_valkey_quoting():
    assert split_line('auth-pass g "a b\\"c\\x41\\n"', "x") == ["auth-pass", "g", 'a b"cA\n']
    assert split_line("x 'it\\'s' y", "x") == ["x", "it's", "y"]
    for bad in ('x "open', "x 'open", 'x "a"b'):
        with pytest.raises(MigrateError, match="quote"):
            split_line(bad, "f:1")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("port 26379\n", "no 'sentinel monitor'"),
        ("sentinel down-after-milliseconds x 10\nsentinel monitor g h 1 2\n", "f:1: .*names no"),
        ("sentinel monitor g h 6379 zero\n", "f:1: quorum must be a whole number"),
        ("sentinel monitor g h 6379 0\n", "quorum must be >= 1"),
        ("sentinel monitor g h 99999 2\n", "out of range"),
        ("sentinel monitor g h 6379\n", "usage"),
    ],
)
def test_bad_files_are_refused_with_file_and_line(text, match):
    with pytest.raises(MigrateError, match=match):
        parse(text, "f")


def test_three_sentinels_keep_quorum_and_timings_and_say_why():
    outs = migrate(_deployment(3))
    assert [o.daemon_id for o in outs] == ["d1", "d2", "d3"]
    cfg = _loads(outs[0])
    st = cfg.groups["cache"].settings
    assert (st.quorum, st.down_after, st.voters) == (2, 5.0, ("d1", "d2", "d3"))
    # no failover-timeout line: the rule derives it, as every timing but down_after
    assert "failover_timeout" not in outs[0].doc["groups"]["cache"]
    assert st == Settings(group="cache", voters=st.voters, nodes=st.nodes, down_after=5.0)
    notes = " ".join(outs[0].notes)
    assert "down-after-milliseconds 5000" in notes and "default would be 3.0" in notes
    assert "majority of the 3 named voters (2)" in notes
    assert outs[0].doc["groups"] == outs[2].doc["groups"]


def test_four_sentinels_give_three_voters_and_an_observer():
    outs = migrate(_deployment(4, quorum=9))
    st = _loads(outs[3]).groups["cache"].settings
    assert st.voters == ("d1", "d2", "d3") and st.quorum == 3
    assert any("d4 is an observer" in n for n in outs[3].notes)
    assert any("lowered to 3" in n for n in outs[3].notes)


def test_two_sentinels_are_offered_a_third_daemon():
    with pytest.raises(MigrateError, match=r"3 or 5 voting daemons.*--add-daemon .*d3"):
        migrate(_deployment(2))
    outs = migrate(_deployment(2), add_daemons={"d3": ("10.0.0.9", 26379)})
    assert [o.daemon_id for o in outs] == ["d1", "d2", "d3"]
    third = _loads(outs[2])
    assert third.bind == ("10.0.0.9", 26379) and third.groups["cache"].settings.voters == (
        "d1",
        "d2",
        "d3",
    )
    assert outs[2].doc["groups"] == outs[0].doc["groups"]
    assert any("no Sentinel ran there" in n for n in outs[2].notes)


def test_directives_may_come_before_their_monitor_line():
    """Valkey 9.1.2's Sentinel loads such files (checked by hand): it applies the monitor
    lines first, then the lines about each group."""
    monitor = "sentinel monitor cache 10.0.1.1 6379 2\n"
    rest = "sentinel failover-timeout cache 9000\nsentinel known-replica cache 10.0.1.2 6379\n"
    after, before = parse(monitor + rest).monitors["cache"], parse(rest + monitor).monitors["cache"]
    assert (before.failover_timeout_ms, before.replicas) == (9000, [("10.0.1.2", 6379)])
    assert dataclasses.replace(before, line=1) == after


def test_voters_are_named_never_gathered_from_known_sentinel_lines():
    confs = _deployment(3)
    stale = "sentinel known-sentinel cache 10.0.0.77 26379 " + "b" * 40 + "\n"
    text = BASE.format(i=1, quorum=2, down=5000) + stale
    outs = migrate([parse(text, "s1.conf"), *confs[1:]], names=["east", None, None])
    st = _loads(outs[0]).groups["cache"].settings
    assert st.voters == ("east", "d1", "d2")
    assert "10.0.0.77" not in str(outs[0].doc["peers"])
    assert any("known-sentinel 10.0.0.77:26379" in w for w in outs[1].warnings)
    # One file alone: the other daemons are named on the command line, not read from gossip.
    alone = migrate([confs[0]], peers={"d2": ("10.0.0.2", 26379), "d3": ("10.0.0.3", 26379)})
    assert len(alone) == 1 and _loads(alone[0]).groups["cache"].settings.voters == (
        "d1",
        "d2",
        "d3",
    )


def test_every_daemon_gets_its_own_state_dir():
    outs = migrate(_deployment(3), state_dir="/srv/gungnir")
    dirs = [str(_loads(o).state_dir) for o in outs]
    assert dirs == ["/srv/gungnir/d1", "/srv/gungnir/d2", "/srv/gungnir/d3"]


def test_a_group_without_known_replicas_is_a_warning():
    text = "port 26379\nsentinel announce-ip 10.0.0.{i}\nsentinel monitor cache 10.0.1.1 6379 2\n"
    confs = [parse(text.format(i=i), f"s{i}") for i in (1, 2, 3)]
    outs = migrate(confs)
    assert any("no known-replica line" in w and "10.0.1.1:6379" in w for w in outs[0].warnings)


def test_two_monitors_of_the_same_nodes_are_refused():
    twin = "".join(
        line.replace("cache", "cache-twin") + "\n"
        for line in BASE.format(i=1, quorum=2, down=5000).splitlines()
        if line.startswith("sentinel monitor") or line.startswith("sentinel known-replica")
    )
    confs = [parse(t + twin, f"s{i}") for i, t in enumerate(_texts(3), 1)]
    with pytest.raises(MigrateError, match="'cache' and 'cache-twin' watch the same node"):
        migrate(confs)


def _failover_window(st) -> tuple[float, float]:
    """docs/tuning.md: max(down_after + U(0, election_jitter), promote_after) + <= one probe."""
    low = max(st.down_after, st.promote_after)
    return low, max(st.down_after + st.election_jitter, st.promote_after) + st.probe_interval


def test_only_down_after_is_written_and_the_rule_derives_the_rest():
    """The file migrate-sentinel writes is the one-knob configuration: down_after from
    down-after-milliseconds, every other timing from the core's rule."""
    short = _loads(migrate(_deployment(3, down=300))[0]).groups["cache"]
    assert short.settings.down_after == 0.3 and short.probe_timeout < 0.3
    assert short.settings.probe_interval == 0.015  # down_after / 20

    out = migrate(_deployment(3, down=1000))[0]
    written = yaml.safe_load(out.render())
    # no timing the rule derives is written (failover_timeout: only Sentinel's own line)
    assert not set(DERIVED_TIMINGS) & set(written["groups"]["cache"])
    written["daemon"]["secret"] = "s" * 16  # the secret file lives on the target host
    del written["daemon"]["secret_file"]
    st = load(doc=written, env={}).groups["cache"].settings  # the file loads: validated
    one_knob = Settings(group="cache", voters=st.voters, nodes=st.nodes, down_after=1.0)
    assert st == one_knob
    # fast: promote_after costs nothing on top of detection, and the margin is kept
    assert st.promote_after == 1.0 and st.probe_interval == 0.05
    assert st.fence_after + st.probe_interval + st.max_clock_drift + 0.25 <= st.promote_after
    low, high = _failover_window(st)
    assert high <= 1.25
    notes = " ".join(out.notes)
    assert "derived from down_after by the rule" in notes and "trade-off" in notes
    assert "promote_after 1 s" in notes
    assert f"{low:.1f} to {high:.1f} s" in notes  # the explanation prints the expected time


@pytest.mark.parametrize("policy", ["availability", "consistency"])
def test_derived_timings_always_load_and_never_slow_the_failover_down(policy):
    previous = 0.0
    for down in (100, 250, 500, 800, 1000, 1499, 1500, 2000, 2999, 3000, 4000, 30000):
        out = migrate(_deployment(3, down=down), policy=policy)[0]
        st = _loads(out).groups["cache"].settings
        if down >= 600:  # from there on the margin fits in down_after
            assert st.promote_after == pytest.approx(down / 1000)
        low, high = _failover_window(st)
        assert high >= previous - 0.01, f"down {down}: a longer down_after failed over faster"
        assert high <= 1.25 * down / 1000 + 0.25, f"down {down}: slower than the rule says"
        previous = high
        expected = f"{low:.1f} to {high:.1f} s"
        assert any(expected in n for n in out.notes), (down, expected)
        if policy == "consistency":
            assert any(f"write lease ({st.lease:g} s)" in n for n in out.notes)


def test_consistency_raises_a_failover_timeout_too_short_for_the_lease():
    confs = [
        parse(
            BASE.format(i=i, quorum=2, down=5000)
            + "sentinel failover-timeout cache 6000\n"
            + "".join(f"sentinel known-sentinel cache 10.0.0.{j} 26379 x\n" for j in (1, 2, 3)),
            f"s{i}",
        )
        for i in (1, 2, 3)
    ]
    assert _loads(migrate(confs)[0]).groups["cache"].settings.failover_timeout == 6.0
    out = migrate(confs, policy="consistency")[0]
    st = _loads(out).groups["cache"].settings
    assert st.failover_timeout > st.promote_after + st.lease
    assert any("failover_timeout raised" in n for n in out.notes)


def test_own_address_is_required_when_the_file_does_not_say():
    conf = parse("bind 0.0.0.0\nsentinel monitor g 10.0.1.1 6379 2\n", "s.conf")
    with pytest.raises(MigrateError, match="--address"):
        migrate([conf])


def test_cli_refuses_bad_input_and_never_overwrites(tmp_path, capsys):
    bad = tmp_path / "bad.conf"
    bad.write_text("port 26379\n")
    assert main([str(bad), "-o", str(tmp_path / "x.yaml")]) == 2
    assert "no 'sentinel monitor'" in capsys.readouterr().err
    assert not (tmp_path / "x.yaml").exists()
    good = []
    for i in (1, 2, 3):
        path = tmp_path / f"s{i}.conf"
        path.write_text(
            BASE.format(i=i, quorum=2, down=5000)
            + "".join(f"sentinel known-sentinel cache 10.0.0.{j} 26379 x\n" for j in (1, 2, 3))
        )
        good.append(str(path))
    target = tmp_path / "out"
    assert main([*good, "--out-dir", str(target)]) == 0
    first = (target / "d1.yaml").read_text()
    assert main([*good, "--out-dir", str(target)]) == 2
    assert "--force" in capsys.readouterr().err
    assert (target / "d1.yaml").read_text() == first
    assert main(good) == 2  # several inputs need --out-dir
    # Warnings reach stderr even with -q, once each.
    capsys.readouterr()
    stray = tmp_path / "stray.conf"
    stray.write_text(Path(good[0]).read_text() + "sentinel known-sentinel cache 10.0.0.8 1 x\n")
    assert main([str(stray), *good[1:], "--out-dir", str(tmp_path / "o2"), "-q"]) == 0
    assert capsys.readouterr().err.count("known-sentinel 10.0.0.8:1") == 1


def test_two_monitors_become_two_groups_with_their_own_settings():
    extra = (
        "sentinel monitor sessions 10.0.2.1 6380 3\n"
        "sentinel auth-pass sessions 'p w'\n"
        "sentinel down-after-milliseconds sessions 1500\n"
        "sentinel notification-script sessions /bin/notify.sh\n"
    )
    confs = []
    for i in (1, 2, 3):
        others = "".join(
            f"sentinel known-sentinel {g} 10.0.0.{j} 26379 x\n"
            for g in ("cache", "sessions")
            for j in (1, 2, 3)
        )
        confs.append(parse(BASE.format(i=i, quorum=2, down=5000) + extra + others, f"s{i}"))
    out = migrate(confs, policy="consistency")[0]
    groups = _loads(out).groups
    assert set(groups) == {"cache", "sessions"}
    s = groups["sessions"]
    assert (s.settings.quorum, s.settings.down_after, s.password) == (3, 1.5, "p w")
    assert s.settings.policy == "consistency" and s.settings.probe_interval == 0.075
    assert any("notification-script" in n and "runs no scripts" in n for n in out.notes)


def test_seven_sentinels_give_five_voters():
    outs = migrate(_deployment(7))
    assert len(outs) == 7
    st = _loads(outs[6]).groups["cache"].settings
    assert st.voters == ("d1", "d2", "d3", "d4", "d5")
    assert any("other 2 run as observers" in n for n in outs[0].notes)


def test_tls_files_map_onto_the_daemon_endpoint():
    tls = "tls-port 26379\ntls-cert-file /c.pem\ntls-key-file /k.pem\ntls-ca-cert-file /ca.pem\n"
    confs = [parse(tls + c_text, f"s{i}") for i, c_text in enumerate(_texts(3), 1)]
    out = migrate(confs)[0]
    assert out.doc["daemon"]["tls"] == {"cert": "/c.pem", "key": "/k.pem", "ca": "/ca.pem"}
    half = parse("tls-cert-file /c.pem\n" + _texts(3)[0], "s1")
    assert "tls" not in migrate([half, *confs[1:]])[0].doc["daemon"]


def _texts(n: int) -> list[str]:
    return [
        BASE.format(i=i, quorum=2, down=5000)
        + "".join(f"sentinel known-sentinel cache 10.0.0.{j} 26379 x\n" for j in range(1, n + 1))
        for i in range(1, n + 1)
    ]


def test_migration_says_how_nodes_start_fenced():
    """The start-up fence lines in the advice are the ones a node really starts fenced with
    (tests/faults/test_fenced_start.py starts nodes with start_fence_lines)."""
    notes = " ".join(migrate(_deployment(3))[0].notes)
    assert "'min-replicas-to-write 1000000'" in notes
    assert "'user default on nopass ~* &* +@all -sync -psync'" in notes
    assert "requirepass" not in notes  # no password in these files: no caveat
    authed = BASE + "sentinel auth-pass cache pw\nsentinel auth-user cache repl\n"
    confs = [parse(authed.format(i=i, quorum=2, down=5000), f"s{i}.conf") for i in (1, 2, 3)]
    notes = " ".join(migrate(confs)[0].notes)
    assert "'user default on >PASSWORD ~* &* +@all -sync -psync'" in notes
    assert "'user repl on >PASSWORD ~* &* +@all -sync -psync'" in notes
    assert "overrides requirepass" in notes


@pytest.mark.slow
def test_real_sentinel_loads_a_group_line_above_its_monitor_and_so_do_we(tmp_path):
    body = (
        "sentinel failover-timeout cache-main 12345\n"
        "sentinel known-replica cache-main 127.0.0.1 7777\n"
        "sentinel monitor cache-main 127.0.0.1 7001 2\n"
    )
    s = Sentinels(1, tmp_path)
    try:
        s.start(body)  # Sentinel rewrites its file once loaded: parse the lines we wrote

        def loaded() -> bool:
            try:
                return bool(s.client(0).ping())
            except redis.RedisError:
                assert s.procs[0].poll() is None, f"Sentinel refused the file: {s.logs()}"
                return False

        wait_until(loaded, timeout=10, what="Sentinel to load the file")
        master = s.client(0).sentinel_master("cache-main")
        assert (master["failover-timeout"], master["num-slaves"]) == (12345, 1)
    finally:
        s.stop()
    mon = parse(body, "sentinel.conf").monitors["cache-main"]
    assert (mon.failover_timeout_ms, mon.replicas) == (12345, [("127.0.0.1", 7777)])
