"""Daemons as real processes (``python -m gungnir run --config``), stopped by pid.

Kill/restart behaviour needs real processes: a SIGKILLed daemon loses everything but its
state file, and the CLI talks to it over the wire.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest

from gungnir.local import start_group, wait_until
from gungnir.runtime.cluster import DaemonProcess, cluster_docs, write_docs

from .support import check_decision_logs, nodes_of

pytestmark = pytest.mark.slow


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [sys.executable, "-m", "gungnir", *args], capture_output=True, text=True, timeout=60
    )
    if check and proc.returncode != 0:
        raise AssertionError(f"gungnir {' '.join(args)} failed: {proc.stderr}")
    return proc


def status(doc) -> dict:
    port = doc["peers"][doc["daemon"]["id"]].rsplit(":", 1)[1]
    return json.loads(cli("status", "-a", f"127.0.0.1:{port}", "--json").stdout)


def group_status(doc) -> dict:
    return status(doc)["groups"][0]


class Daemons:
    def __init__(self, tmp_path, group):
        self.docs = cluster_docs(nodes_of(group), tmp_path)
        self.paths = write_docs(self.docs, tmp_path)
        self.procs = [DaemonProcess(p) for p in self.paths]

    def __enter__(self):
        for p in self.procs:
            p.start()
        return self

    def __exit__(self, *exc):
        for p in self.procs:
            p.stop()

    def primaries(self, which=None):
        out = set()
        for i, doc in enumerate(self.docs):
            if which is not None and i not in which:
                continue
            out.add(group_status(doc)["primary"])
        return out

    def wait_ready(self, primary="node-0"):
        wait_until(
            lambda: (
                self.primaries() == {primary}
                and all(all(p["up"] for p in status(d)["peers"].values()) for d in self.docs)
            ),
            timeout=20,
            what="every daemon to see the primary and its peers",
        )


def test_sigkill_primary_then_status_and_daemon_restart_keeps_epoch(tmp_path):
    with start_group(replicas=2) as g, Daemons(tmp_path, g) as ds:
        ds.wait_ready()
        g.primary.kill(signal.SIGKILL)
        wait_until(
            lambda: len(ds.primaries()) == 1 and ds.primaries() != {"node-0"},
            timeout=20,
            what="a new primary agreed by all three daemon processes",
        )
        (new,) = ds.primaries()
        assert next(n for n in g.nodes if n.name == new).info()["role"] == "master"
        table = cli("status", "-c", str(ds.paths[0])).stdout
        group_row = next(x.split() for x in table.splitlines() if x.startswith("demo "))
        assert group_row[1] == new and "d2 up" in table.splitlines()[0]

        before = group_status(ds.docs[0])
        state_file = tmp_path / "d1" / "state" / "demo.state.json"
        persisted = json.loads(state_file.read_text())["body"]
        assert persisted["epoch"] == before["epoch"] >= 1
        ds.procs[0].kill()  # SIGKILL: only the state file survives
        ds.procs[0].start()
        wait_until(
            lambda: group_status(ds.docs[0])["primary"] == new,
            timeout=20,
            what="the restarted daemon to learn the primary again",
        )
        after = group_status(ds.docs[0])
        assert after["epoch"] >= before["epoch"]
        restarted = [
            json.loads(line)
            for line in (tmp_path / "d1" / "decisions.jsonl").read_text().splitlines()
            if '"restarted"' in line
        ]
        assert restarted[-1]["epoch"] == persisted["epoch"]
        assert restarted[-1]["vote"] == persisted["vote"]
    report = check_decision_logs(tmp_path)
    assert report.ok, report.summary()


def test_corrupt_state_file_is_a_clear_startup_error(tmp_path):
    with start_group(replicas=1) as g:
        docs = cluster_docs(nodes_of(g), tmp_path)
        path = write_docs(docs, tmp_path)[0]
        state = tmp_path / "d1" / "state"
        state.mkdir(parents=True)
        (state / "demo.state.json").write_text('{"body": {"epoch": 3')  # truncated
        p = DaemonProcess(path).start()
        try:
            wait_until(lambda: not p.running(), timeout=20, what="the daemon to exit")
        finally:
            code = p.stop()
        assert code == 3
        assert "corrupt or truncated" in p.output()
        assert (state / "demo.state.json").read_text() == '{"body": {"epoch": 3'


def test_bad_config_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "daemon: {id: d1, state_dir: x, secret: 0123456789}\n"
        "peers: {d1: '127.0.0.1:1', d2: '127.0.0.1:2', d3: '127.0.0.1:3'}\n"
        "groups: {g: {nodes: {a: '127.0.0.1:4'}, fence_after: 5, promote_after: 5}}\n"
    )
    proc = cli("run", "--config", str(bad), check=False)
    assert proc.returncode == 2
    assert "timing rule broken" in proc.stderr


def test_manual_switchover_loses_no_acknowledged_write(tmp_path):
    with start_group(replicas=2) as g, Daemons(tmp_path, g) as ds:
        ds.wait_ready()
        acked: list[int] = []
        stop = threading.Event()

        def writer():
            # Follows the primary through the daemons' Sentinel API; only OK counts.
            from gungnir.local import _call

            host_port = None
            i = 0
            deadline = time.monotonic() + 60
            while not stop.is_set() and time.monotonic() < deadline and i < 50_000:
                if host_port is None:
                    port = int(ds.docs[0]["peers"]["d1"].rsplit(":", 1)[1])
                    try:
                        r = _call(
                            "127.0.0.1", port, ("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "demo"), 1.0
                        )
                        host_port = (r[0].decode(), int(r[1]))
                    except Exception:
                        continue
                i += 1
                try:
                    r = _call(*host_port, ("SET", f"k:{i}", str(i)), 1.0)
                except Exception:
                    r = None
                if r == b"OK":
                    acked.append(i)
                else:
                    host_port = None

        t = threading.Thread(target=writer)
        t.start()
        try:
            wait_until(lambda: len(acked) > 100, timeout=20, what="writes before the switchover")
            out = cli("failover", "demo", "--to", "node-2", "-c", str(ds.paths[1]), "--wait", "30")
            assert "done: primary node-2" in out.stdout
            n = len(acked)
            wait_until(lambda: len(acked) > n + 100, timeout=20, what="writes after it")
        finally:
            stop.set()
            t.join(30)
        new = next(x for x in g.nodes if x.name == "node-2")
        assert new.info()["role"] == "master"
        missing = [i for i in acked if new.command("GET", f"k:{i}") is None]
        assert missing == [], f"{len(missing)} acknowledged writes lost"
        wait_until(
            lambda: g.primary.info().get("master_port") == str(new.port),
            timeout=20,
            what="the old primary to follow node-2",
        )


def test_port_in_use_is_a_clear_startup_error(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        docs = cluster_docs({"n": ("127.0.0.1", 1)}, tmp_path, ports=[port, 2, 3])
        p = DaemonProcess(write_docs(docs, tmp_path)[0]).start()
        try:
            wait_until(lambda: not p.running(), timeout=20, what="the daemon to exit")
        finally:
            code = p.stop()
    assert code == 2
    assert f"cannot listen on 127.0.0.1:{port}" in p.output()


def test_hung_daemon_does_not_stall_the_others(tmp_path):
    with start_group(replicas=2) as g, Daemons(tmp_path, g) as ds:
        ds.wait_ready()
        ds.procs[2].signal(signal.SIGSTOP)  # d3 hangs: its sockets stay open, nothing answers
        try:
            g.primary.kill(signal.SIGKILL)
            wait_until(
                lambda: len(ds.primaries([0, 1])) == 1 and ds.primaries([0, 1]) != {"node-0"},
                timeout=20,
                what="d1 and d2 to fail over without the hung d3",
            )
            (new,) = ds.primaries([0, 1])
        finally:
            ds.procs[2].signal(signal.SIGCONT)
        wait_until(
            lambda: ds.primaries() == {new},
            timeout=20,
            what="the resumed d3 to learn the new primary",
        )
    report = check_decision_logs(tmp_path)
    assert report.ok, report.summary()
