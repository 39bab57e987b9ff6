"""Gungnir's own daemons as the system under test, in the same topology as the Sentinel baseline.

Three machines, each with one Valkey node (``nI``) and one ``gungnir run`` daemon (``dI``) in
their own namespaces; the three daemons are the fixed voter set and watch one group named like
the Sentinel service (``gnf``), so the workload is *unchanged*: redis-py's ``Sentinel`` client
asks the daemons for the primary exactly as it asks Valkey's Sentinels (no gungnir code on the
client side). Only the daemon process and its readiness/convergence checks differ, hence a
subclass of :class:`~gungnir.faults.sentinel.SentinelSUT`.

Why real ``python -m gungnir run`` processes (not in-process daemons): kill -9 and SIGSTOP must
hit one daemon and nothing else, and a partition must cut its sockets for real.

Every daemon writes its JSON-lines decision log into its own working directory (appended across
restarts, as a real deployment's file is); :meth:`GungnirSUT.decision_logs` hands them to the
runner, which replays them merged through :mod:`gungnir.verify.trace` after every run.

Every Valkey node starts fenced (:mod:`gungnir.runtime.startfence`: ``min-replicas-to-write``
unmeetable and ``-sync -psync`` for ``default``, in a config file of its own), at the first
start and at every restart a nemesis makes, as a deployment of Gungnir should run its nodes: a
primary back without its data then takes no write and serves no sync before a daemon has looked
at it. So the harness does not set up replication itself; it starts the daemons, which lift the
fence on the initial primary and repoint the others to it, and polls until the group is healthy.
The Sentinel baseline's nodes stay unfenced, as Sentinel users run them.

Options (all recorded in the report): ``policy`` (``availability`` or ``consistency``) and any
group setting of :class:`gungnir.core.Settings` (timings). The defaults detect a dead primary in
1 s, like the baseline's ``down-after-milliseconds 1000``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import secrets
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gungnir.core import Settings
from gungnir.faults.net import TestNet
from gungnir.faults.sentinel import SERVICE, SentinelSUT, _mkdir
from gungnir.faults.sut import DAEMON_PORT, VALKEY_PORT, Convergence
from gungnir.local import ValkeyProcess, wait_until
from gungnir.runtime.startfence import start_fence_lines

__all__ = ["TIMINGS", "ConfigFileNode", "DaemonHostProcess", "GungnirSUT"]

#: Group timings: 1 s detection like the baseline; timing rule 0.5 + 0.1 + 0.1 < 1.0.
#: The consistency lease is the core's ``Settings.lease`` of these values (see ``lease_s``).
TIMINGS: dict[str, Any] = {
    "probe_interval": 0.1,
    "down_after": 1.0,
    "report_ttl": 2.0,
    "election_timeout": 1.0,
    "election_jitter": 0.3,
    "fence_after": 0.5,
    "promote_after": 1.0,
    "max_clock_drift": 0.1,
    "failover_timeout": 10.0,
    "min_replicas_max_lag": 2.0,
    "lease_margin": 0.5,
    "probe_timeout": 0.5,
    "action_timeout": 1.0,
}
#: Options of the Sentinel baseline that mean nothing here (the daemon owns min-replicas).
_SENTINEL_ONLY = {"min_replicas_to_write", "down_after_ms", "failover_timeout_ms"}
#: Options that are the nodes' own config, not the daemons' (the "hardened nodes" preset: an
#: operator's min-replicas-to-write and min-replicas-max-lag, set before gungnir came).
NODE_OPTIONS = {
    "node_min_replicas_to_write": "min-replicas-to-write",
    "node_min_replicas_max_lag": "min-replicas-max-lag",
}


@dataclass
class DaemonHostProcess(ValkeyProcess):
    """``python -m gungnir run --config FILE`` with the lifecycle of a test-host process.

    Subclassing :class:`ValkeyProcess` gives the nemeses what they already use (``pid``,
    ``kill(sig)``, ``start()``, ``stop()``, ``command()``) and the same readiness test (the
    daemon answers ``PING`` on its RESP endpoint). The output goes to ``<name>.log`` in the
    working directory, appended across restarts, so a killed daemon's last words are kept.
    """

    config_file: Path | None = None

    def _argv(self) -> list[str]:
        assert self.config_file is not None
        return [*self.launcher, sys.executable, "-m", "gungnir", "run", "--config",
                str(self.config_file)]  # fmt: skip

    def _spawn(self) -> None:
        assert self.workdir is not None
        with self.logfile.open("ab") as log:
            self._proc = subprocess.Popen(
                self._argv(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


@dataclass
class ConfigFileNode(ValkeyProcess):
    """A ``valkey-server`` that reads ``conf_lines`` from a config file in its working directory.

    Some directives cannot go on the command line (a ``user`` line holds several words, which
    Valkey would quote into one user name), so they go in a file the server reads first; the
    command-line options (port, bind, no persistence) still come after it and win. The file is
    written again at every start, so a restart comes back with the same configuration.
    """

    conf_lines: Sequence[str] = ()

    def _argv(self) -> list[str]:
        argv = super()._argv()
        assert self.workdir is not None
        conf = self.workdir / f"{self.name}.conf"
        conf.write_text("".join(line + "\n" for line in self.conf_lines))
        binary_at = len(self.launcher)  # the server reads its config file first
        return [*argv[: binary_at + 1], str(conf), *argv[binary_at + 1 :]]


class GungnirSUT(SentinelSUT):
    """One primary, two replicas, three ``gungnir run`` voters (one per machine)."""

    name = "gungnir"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        given = {k: v for k, v in (options or {}).items() if k not in _SENTINEL_ONLY}
        merged: dict[str, Any] = {"policy": "availability", **TIMINGS, **given}
        super().__init__(merged)
        for key in _SENTINEL_ONLY:  # SentinelSUT's own defaults
            self.options.pop(key, None)
        self.policy = str(self.options["policy"])
        self.name = f"gungnir-{self.policy}"
        self._secret = secrets.token_hex(16)
        self._workdirs: dict[str, Path] = {}

    # -- settings the report and the tests need -------------------------------------------------

    @property
    def lease_s(self) -> float:
        """The documented write lease, as the core computes it (``Settings.lease``) for these
        options, so the report can never disagree with the daemons' own arithmetic."""
        fields = {f.name for f in dataclasses.fields(Settings)}
        given = {k: v for k, v in self.options.items() if k in fields}
        settings = Settings(
            group=SERVICE,
            voters=tuple(self._daemon_names),
            nodes=tuple(self._node_names),
            **given,
        )
        return float(settings.lease)

    @property
    def write_quorum(self) -> int:
        """``min-replicas-to-write`` the daemons keep on the primary: a majority minus one
        under consistency, 0 under availability, or the nodes' own higher value (an
        operator's stricter setting is kept)."""
        nodes = len(self._node_names)
        ours = nodes // 2 if self.policy == "consistency" else 0
        return max(ours, int(self.options.get("node_min_replicas_to_write", 0)))

    def describe(self) -> dict[str, Any]:
        out = super().describe()
        out["lease_s"] = round(self.lease_s, 3)
        return out

    def workload_wait(self) -> tuple[int, int] | None:
        """The consistency policy's clients confirm writes with WAIT for a majority."""
        return (self.write_quorum, 500) if self.policy == "consistency" else None

    # -- processes ------------------------------------------------------------------------------

    def _node_config(self) -> dict[str, str]:
        """Nothing by default (the daemons set the write quorum); the hardened preset's
        settings go on the command line, after the start fence's file, so they win over its
        min-replicas-to-write while its ACL lines stay."""
        return {
            directive: str(self.options[key])
            for key, directive in NODE_OPTIONS.items()
            if key in self.options
        }

    def _start(self, net: TestNet, workdir: Path) -> None:
        """Fenced nodes, then the daemons; healthy once they have lifted the primary's fence,
        repointed the replicas to it and the replicas' links are up (polled)."""
        for name in self._node_names:
            host = net.hosts[name]
            node = ConfigFileNode(
                config=self._node_config(),
                host=host.address,
                port=VALKEY_PORT,
                name=name,
                workdir=_mkdir(workdir / name),
                launcher=host.launcher,
                conf_lines=start_fence_lines(),
            )
            self._nodes[name] = node
            node.start()
        primary = self._nodes[self._node_names[0]]
        for name in self._daemon_names:
            daemon = self._make_daemon(name, net, _mkdir(workdir / name), primary)
            self._daemons[name] = daemon
            daemon.start()
        wait_until(
            lambda: self._daemons_ready() and self.convergence().ok,
            timeout=45,
            interval=0.1,
            what="the daemons to lift the primary's start-up fence and link the replicas",
        )

    def _group_doc(self, net: TestNet) -> dict[str, Any]:
        doc: dict[str, Any] = {
            k: v for k, v in self.options.items() if k != "replicas" and k not in NODE_OPTIONS
        }
        doc["nodes"] = {n: f"{net.hosts[n].address}:{VALKEY_PORT}" for n in self._node_names}
        doc["initial_primary"] = self._node_names[0]
        return doc

    def _make_daemon(
        self, name: str, net: TestNet, directory: Path, primary: ValkeyProcess
    ) -> ValkeyProcess:
        host = net.hosts[name]
        doc = {
            "daemon": {
                "id": name,
                "bind": f"{host.address}:{DAEMON_PORT}",
                "state_dir": str(directory / "state"),
                "decision_log": str(directory / "decisions.jsonl"),
                "secret": self._secret,
                "log_level": "INFO",
            },
            "peers": {d: f"{net.hosts[d].address}:{DAEMON_PORT}" for d in self._daemon_names},
            "groups": {SERVICE: self._group_doc(net)},
        }
        config_file = directory / f"{name}.yaml"
        config_file.write_text(json.dumps(doc, indent=2))  # JSON is valid YAML
        self._workdirs[name] = directory
        return DaemonHostProcess(
            host=host.address,
            port=DAEMON_PORT,
            name=name,
            workdir=directory,
            launcher=host.launcher,
            startup_timeout=30.0,
            config_file=config_file,
        )

    def restart_daemon_with_secret(self, name: str, secret: str | None) -> None:
        """Restart daemon ``name`` with peer secret ``secret`` (None: the group's own), for
        the misconfigured-daemon nemesis; its state directory and logs are kept."""
        daemon = self._daemons[name]
        assert isinstance(daemon, DaemonHostProcess) and daemon.config_file is not None
        doc = json.loads(daemon.config_file.read_text())
        doc["daemon"]["secret"] = self._secret if secret is None else secret
        daemon.stop()
        daemon.config_file.write_text(json.dumps(doc, indent=2))
        daemon.start()

    def decision_logs(self) -> list[Path]:
        return [d / "decisions.jsonl" for d in self._workdirs.values()]

    # -- what the daemons say -------------------------------------------------------------------

    def _status(self, daemon: ValkeyProcess) -> dict[str, Any] | None:
        try:
            raw = daemon.command("GUNGNIR.STATUS", timeout=0.5)
        except Exception:
            return None
        if not isinstance(raw, bytes | bytearray):
            return None
        data = json.loads(raw)
        groups = [g for g in data.get("groups", []) if g.get("group") == SERVICE]
        return groups[0] if groups else None  # its "peers" maps peer name -> link up

    def _write_quorum_of(self, address: str, setting: str = "min-replicas-to-write") -> int | None:
        host = self.node_host_of(address)
        if host is None:
            return None
        with contextlib.suppress(Exception):
            reply = self.nodes[host].command("CONFIG", "GET", setting, timeout=0.5)
            if isinstance(reply, list) and len(reply) == 2:
                return int(reply[1])
        return None

    def _max_lag_ok(self, address: str) -> bool:
        """Under consistency, the primary's min-replicas-max-lag is at most the policy's (the
        daemons lower an operator's longer one before the lease can rest on it)."""
        if self.policy != "consistency":
            return True
        lag = self._write_quorum_of(address, "min-replicas-max-lag")
        return lag is not None and lag <= int(self.options["min_replicas_max_lag"])

    def _daemons_ready(self) -> bool:
        """Every daemon names n1 and sees every peer; the primary has its write quorum."""
        first = self._node_names[0]
        for daemon in self._daemons.values():
            st = self._status(daemon)
            if st is None or st.get("primary") != first:
                return False
            if not all(st["peers"].values()):
                return False
        n1 = self._nodes[first]
        address = f"{n1.host}:{n1.port}"
        return self._write_quorum_of(address) == self.write_quorum and self._max_lag_ok(address)

    def convergence(self) -> Convergence:
        """The Sentinel checks, plus: one config epoch everywhere, and the primary unfenced
        with the policy's write quorum (a fenced primary left behind is not converged)."""
        state = super().convergence()
        epochs: dict[str, Any] = {}
        for name, daemon in self._daemons.items():
            st = self._status(daemon)
            epochs[name] = st.get("config_epoch") if st else None
        if len(set(epochs.values())) != 1 or None in epochs.values():
            state.reasons.append(f"daemons' config epochs differ: {epochs}")
        if state.primary is not None:
            quorum = self._write_quorum_of(state.primary)
            if quorum != self.write_quorum:
                state.reasons.append(
                    f"primary {state.primary} min-replicas-to-write {quorum}, "
                    f"want {self.write_quorum}"
                )
        state.ok = not state.reasons
        return state
