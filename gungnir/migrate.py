"""``gungnir migrate-sentinel``: turn Sentinel configurations into gungnir daemon configurations.

Why a tool and not a table in the docs: a Sentinel deployment's real shape is spread over
several files that Sentinel itself rewrites (``known-replica``, ``known-sentinel``, the
current primary in the ``monitor`` line after a failover), and the settings that look the
same do not mean the same thing (``quorum`` only decides "objectively down" in both, but a
gungnir election needs a majority of a *fixed, named* voter set).  The tool reads what
Sentinel wrote, maps each Sentinel onto one gungnir daemon on the same address (so clients
keep their Sentinel list), and explains every value it chose, changed or dropped, both on
stderr and as comments in the file it writes.  The result is checked with the daemon's own
configuration loader before anything is written, so a migrated file never fails at start-up
for a reason the tool could have seen.

Each input file is one Sentinel; together they describe the deployment.  One output per
input: the configuration of the daemon that replaces that Sentinel.
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gungnir.core.settings import Settings
from gungnir.runtime.config import GroupConfig
from gungnir.runtime.startfence import start_fence_lines
from gungnir.sentinelconf import WILDCARDS, Address, MigrateError, Monitor, SentinelConf, parse

__all__ = ["MigrateError", "Monitor", "Output", "SentinelConf", "main", "migrate", "parse"]

_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(Settings) if f.default is not dataclasses.MISSING
}
#: The runtime's default node-action timeout, for failover_timeout.
_ACTION_TIMEOUT = GroupConfig.action_timeout

# -- planning ----------------------------------------------------------------------------


@dataclass
class Output:
    """The configuration of the daemon replacing one Sentinel, and why it looks so."""

    daemon_id: str
    source: str
    doc: dict[str, Any]
    notes: list[str]

    def render(self) -> str:
        """YAML the daemon's loader reads, with the explanations as comments on top."""
        import yaml

        head = [
            f"# gungnir daemon {self.daemon_id}: migrated from {self.source}",
            "# by `gungnir migrate-sentinel`. What changed and why:",
            "#",
        ]
        for note in self.notes:
            for i, part in enumerate(_wrap(note, 94)):
                head.append(("# - " if i == 0 else "#   ") + part)
        body = yaml.safe_dump(self.doc, sort_keys=False, default_flow_style=False, width=100)
        return "\n".join(head) + "\n\n" + body


def _wrap(text: str, width: int) -> list[str]:
    import textwrap

    return textwrap.wrap(text, width) or [""]


def _fmt(addr: Address) -> str:
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _seconds(ms: int) -> float:
    return ms / 1000


def migrate(
    confs: Sequence[SentinelConf],
    *,
    addresses: Sequence[Address | None] = (),
    state_dir: str = "/var/lib/gungnir",
    secret_file: str = "/etc/gungnir/secret",
    policy: str = "availability",
) -> list[Output]:
    """One :class:`Output` per input Sentinel; raise :class:`MigrateError` when the
    deployment cannot be expressed (fewer than 3 Sentinels, unknown own address...)."""
    if not confs:
        raise MigrateError("no sentinel.conf given")
    if policy not in ("availability", "consistency"):
        raise MigrateError(f"policy must be availability or consistency, got {policy!r}")
    selves: list[Address] = []
    for i, conf in enumerate(confs):
        addr = addresses[i] if i < len(addresses) and addresses[i] else conf.address()
        if addr is None:
            raise MigrateError(
                f"{conf.path}: cannot tell this Sentinel's own address (no 'sentinel "
                f"announce-ip', bind is {' '.join(conf.bind) or 'unset'}); pass --address "
                "HOST:PORT for it"
            )
        if addr in selves:
            raise MigrateError(f"{conf.path}: two inputs are the same Sentinel {_fmt(addr)}")
        selves.append(addr)
    everyone = set(selves)
    for conf in confs:
        for mon in conf.monitors.values():
            everyone.update(mon.sentinels)
    names = {addr: f"d{i + 1}" for i, addr in enumerate(sorted(everyone))}
    peers = {names[a]: _fmt(a) for a in sorted(everyone)}

    group_docs: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for group in sorted({g for c in confs for g in c.monitors}):
        group_docs[group] = _group(group, confs, selves, names, policy)

    outputs = []
    for conf, me in zip(confs, selves, strict=True):
        notes = [
            f"This Sentinel ({_fmt(me)}) becomes daemon {names[me]}, listening on the same "
            "address: gungnir's endpoint speaks the Sentinel commands, so clients keep their "
            "Sentinel list. Stop the Sentinel before starting the daemon.",
            "peers: every Sentinel named by these files (inputs and known-sentinel lines), "
            "fixed and by name; gungnir never learns members from gossip. "
            + ", ".join(f"{n}={a}" for n, a in peers.items()),
            f"secret_file {secret_file}: peers authenticate with an HMAC over a shared "
            "secret (Sentinel's sentinel-pass is not reused). Create it on every daemon "
            "with the same content, e.g. `openssl rand -hex 32`, mode 0600.",
            f"state_dir {state_dir}: the daemon's epoch and vote, fsynced before it answers; "
            "Sentinel's epochs are not carried over (gungnir's start from this state).",
        ]
        bind_host = next((h.lstrip("-") for h in conf.bind if h not in WILDCARDS), "0.0.0.0")
        daemon: dict[str, Any] = {
            "id": names[me],
            "bind": _fmt((bind_host, conf.port)),
            "state_dir": state_dir,
            "secret_file": secret_file,
        }
        if conf.requirepass:
            daemon["sentinel_password"] = conf.requirepass
            notes.append(
                "sentinel_password: from requirepass; clients AUTH to the daemon with it as "
                "they did to Sentinel."
            )
        tls = _tls(conf, notes)
        if tls:
            daemon["tls"] = tls
        groups = {}
        for group in conf.monitors:
            doc, gnotes = group_docs[group]
            groups[group] = doc
            notes.extend(gnotes)
            if names[me] not in doc["voters"]:
                notes.append(f"group {group}: {names[me]} is an observer (not in voters).")
        for lineno, key, why in conf.dropped:
            notes.append(f"dropped line {lineno} '{key}': {why}.")
        doc = {"daemon": daemon, "peers": dict(peers), "groups": groups}
        _check(doc, conf.path)
        outputs.append(Output(names[me], conf.path, doc, notes))
    return outputs


def _group(
    group: str,
    confs: Sequence[SentinelConf],
    selves: Sequence[Address],
    names: dict[Address, str],
    policy: str,
) -> tuple[dict[str, Any], list[str]]:
    seen = [
        (c, c.monitors[group], me)
        for c, me in zip(confs, selves, strict=True)
        if group in c.monitors
    ]
    # Sentinel bumps config-epoch at each failover and rewrites the monitor line to the new
    # primary: the file with the highest one knows the latest topology and settings.
    conf, mon, _ = max(seen, key=lambda x: x[1].config_epoch)
    notes: list[str] = []
    p = f"group {group}:"
    if len(seen) > 1:
        notes.append(
            f"{p} settings and current primary taken from {conf.path} (config-epoch "
            f"{mon.config_epoch}, the highest of the inputs)."
        )
        for attr in ("quorum", "down_after_ms", "failover_timeout_ms", "parallel_syncs"):
            values = {getattr(m, attr) for _, m, _ in seen}
            if len(values) > 1:
                notes.append(f"{p} the inputs disagree on {attr} {sorted(map(str, values))}.")
    addrs: list[Address] = []
    for _, m, _ in seen:
        for a in (m.primary, *m.replicas):
            if a not in addrs and a != mon.primary:
                addrs.append(a)
    ordered = [mon.primary, *sorted(addrs)]
    nodes = {f"{group}-{i}": _fmt(a) for i, a in enumerate(ordered)}
    notes.append(
        f"{p} nodes = the monitored primary ({group}-0) and every known-replica line "
        f"({len(ordered) - 1} replicas); names are stable labels gungnir uses in logs and "
        "metrics. gungnir finds the primary by probing, as Sentinel does."
    )

    watchers = {me for _, _, me in seen}
    for _, m, _ in seen:
        watchers.update(m.sentinels)
    ranked = sorted(watchers, key=lambda a: int(names[a][1:]))
    n = len(ranked)
    if n < 3:
        raise MigrateError(
            f"{p} watched by {n} Sentinel(s) ({', '.join(map(_fmt, ranked))}); gungnir needs 3 "
            "or 5 voting daemons so that a majority survives one failure: add Sentinels to "
            "the deployment (or their files here) first"
        )
    size = 5 if n >= 5 else 3
    voters = [names[a] for a in ranked[:size]]
    if n != size:
        notes.append(
            f"{p} voters = {', '.join(voters)}: gungnir's voter set is exactly 3 or 5 "
            f"daemons; the other {n - size} run as observers (they probe, report down and "
            "fence, but never vote)."
        )
    majority = size // 2 + 1
    quorum = mon.quorum
    if quorum > size:
        notes.append(
            f"{p} quorum {quorum} > {size} voters: lowered to {size}, or the primary could "
            "never be declared down."
        )
        quorum = size
    else:
        notes.append(
            f"{p} quorum = {quorum} kept: that many daemons must report the primary down "
            f"(objectively down), as in Sentinel. Electing a leader to fail over still needs "
            f"a majority of the {size} named voters ({majority}), never fewer."
        )
    if quorum == 1:
        notes.append(
            f"{p} quorum 1 lets one daemon's view start an election; 2 is the usual choice."
        )

    doc: dict[str, Any] = {"nodes": nodes, "voters": voters, "quorum": quorum, "policy": policy}
    if policy == "availability":
        notes.append(
            f"{p} policy availability: promote as soon as elected, like Sentinel, plus fencing "
            "of an isolated primary and data-aware promotion. --policy consistency never "
            "allows two writable primaries but needs min-replicas-to-write on the primary and "
            "adds the write lease to every failover (docs/concepts.md)."
        )
    else:
        notes.append(
            f"{p} policy consistency (asked for): the primary needs a majority of the group "
            "to accept writes, and failover waits out the old primary's write lease "
            "(min_replicas_max_lag + 2 s of Valkey's whole-second lag counting + lease_margin "
            "+ max_clock_drift) unless it was fenced."
        )

    down_ms = mon.down_after_ms
    down = _seconds(down_ms) if down_ms else 30.0
    doc["down_after"] = down
    if down_ms:
        notes.append(
            f"{p} down_after = {down:g} s (down-after-milliseconds {down_ms}) kept; gungnir's "
            f"default would be {_DEFAULTS['down_after']} s. Detection takes down_after plus up "
            "to one probe_interval; the failover time is below (docs/tuning.md)."
        )
    else:
        notes.append(
            f"{p} down_after = 30 s: Sentinel's default (no down-after-milliseconds line), "
            f"kept so detection does not change; gungnir's default is {_DEFAULTS['down_after']} s."
        )
    report_ttl = float(_DEFAULTS["report_ttl"])
    if down > report_ttl:
        doc["report_ttl"] = 2 * down
        notes.append(
            f"{p} report_ttl = {2 * down:g} s (default {report_ttl} s): a down report must stay "
            "fresh at least down_after, or reports from daemons that noticed at different "
            "times never add up to the quorum."
        )
    probe = float(_DEFAULTS["probe_interval"])
    if down < 3 * probe:
        doc["probe_interval"] = round(down / 3, 3)
        notes.append(
            f"{p} probe_interval = {doc['probe_interval']:g} s (default {probe} s): at least "
            "three probes fit in down_after, as Sentinel also pings more often for short "
            "down-after values."
        )
    if max(0.2, min(1.0, down / 2)) >= down:
        doc["probe_timeout"] = round(down / 2, 3)
        notes.append(f"{p} probe_timeout = {doc['probe_timeout']:g} s: must be < down_after.")
    timings, tnotes = _scaled_timings(down, float(doc.get("probe_interval", probe)))
    doc.update(timings)
    notes.extend(f"{p} {n}" for n in tnotes)

    ft_ms = mon.failover_timeout_ms
    doc["failover_timeout"] = _seconds(ft_ms) if ft_ms else 180.0
    notes.append(
        f"{p} failover_timeout = {doc['failover_timeout']:g} s "
        + (f"(failover-timeout {ft_ms}) kept" if ft_ms else "(Sentinel's default 180000 ms)")
        + f"; gungnir's default is {_DEFAULTS['failover_timeout']} s. In gungnir it bounds one "
        "leader's whole failover before another epoch may try; Sentinel also uses it for "
        "retries (twice the value) and replica reconfiguration."
    )
    # The lease does not depend on the policy: measure it before the consistency rule on
    # failover_timeout is checked, so a short Sentinel failover-timeout can be raised.
    settings = _settings_of(group, {**doc, "policy": "availability"})
    if policy == "consistency":
        need = settings.promote_after + settings.lease
        if doc["failover_timeout"] <= need:
            raised = float(math.ceil(need + 3 * _ACTION_TIMEOUT))
            notes.append(
                f"{p} failover_timeout raised to {raised:g} s: under the consistency policy it "
                f"must exceed promote_after + lease ({settings.promote_after:g} + "
                f"{settings.lease:g} s) plus a few node actions, or a failover whose old "
                "primary is unreachable would always time out."
            )
            doc["failover_timeout"] = raised
    settings = _settings_of(group, doc)
    notes.append(f"{p} {_expected_failover(settings)}")
    if mon.parallel_syncs is not None:
        doc["parallel_syncs"] = mon.parallel_syncs
        notes.append(f"{p} parallel_syncs = {mon.parallel_syncs} kept (same meaning).")
    if mon.auth_pass is not None:
        doc["password"] = mon.auth_pass
        notes.append(
            f"{p} password: from auth-pass, used to AUTH to the nodes; this file now holds a "
            "secret: keep it mode 0600."
        )
    if mon.auth_user is not None:
        doc["username"] = mon.auth_user
        notes.append(f"{p} username: from auth-user.")
    notes.append(
        f"{p} replica priorities stay on the Valkey nodes (replica-priority); gungnir reads "
        "them from INFO at every probe, as Sentinel does (0 = never promote)."
    )
    notes.append(_start_fence_note(p, mon.auth_user, mon.auth_pass is not None))
    for _, m, _ in seen:
        if m is mon:
            for lineno, key, why in m.dropped:
                notes.append(f"{p} dropped line {lineno} '{key}': {why}.")
    return doc, notes


def _scaled_timings(down: float, probe: float) -> tuple[dict[str, float], list[str]]:
    """fence_after, max_clock_drift, promote_after and election_jitter for a down_after
    shorter than gungnir's default, scaled with it; nothing for a longer one.

    Why: with a short down_after the default promote_after (4.5 s) and not detection would
    set the failover time, so a Sentinel tuned to fail over in about a second would fail over
    in five.  The defaults are one point of a rule that scales: fence_after = 2/3 down_after
    (never under two probe intervals), max_clock_drift = 1/6 down_after (never under 0.1 s),
    and promote_after = fence_after + probe_interval + max_clock_drift (the start-up timing
    rule) + three probe intervals of margin, the time an isolated daemon needs to see its
    peer links drop (a beat plus a timeout of two beats).  At down_after 3.0 s that gives
    exactly the defaults 2.0, 0.5 and 4.5 s; the demo's timings (fence_after 0.5, probes 0.1,
    drift 0.1, promote_after 1.0) keep the same three-probe margin.  Shorter only costs
    availability: fence_after is how long a daemon tolerates losing its peers before it
    pauses writes on the primaries it reaches; the timing rule (safety) is kept.
    """
    base = float(_DEFAULTS["down_after"])
    if down >= base:
        return {}, [
            f"fence_after {_DEFAULTS['fence_after']} s (a daemon cut off from a majority fences "
            f"the primaries it still reaches) and promote_after {_DEFAULTS['promote_after']} s "
            "(the majority side's wait before promoting an unfenced primary; Sentinel has "
            f"neither) left at the defaults, which are made for down_after {base:g} s: from "
            f"down_after {_DEFAULTS['promote_after']} s on, detection, not promote_after, sets "
            "the failover time."
        ]
    k = down / base
    fence = round(max(2 * probe, float(_DEFAULTS["fence_after"]) * k), 3)
    drift = round(max(0.1, float(_DEFAULTS["max_clock_drift"]) * k), 3)
    promote = round(fence + 4 * probe + drift, 3)
    jitter = round(float(_DEFAULTS["election_jitter"]) * k, 3)
    out = {
        "fence_after": fence,
        "promote_after": promote,
        "max_clock_drift": drift,
        "election_jitter": jitter,
    }
    notes = [
        f"promote_after = {promote:g} s, fence_after = {fence:g} s, max_clock_drift = "
        f"{drift:g} s, election_jitter = {jitter:g} s (defaults {_DEFAULTS['promote_after']}, "
        f"{_DEFAULTS['fence_after']}, {_DEFAULTS['max_clock_drift']}, "
        f"{_DEFAULTS['election_jitter']} s, made for down_after {base:g} s), scaled with the "
        "short down_after: the majority side promotes a dead primary only promote_after after "
        "its last reply, so the default would make the failover take about "
        f"{_DEFAULTS['promote_after']} s whatever down_after is. The start-up timing rule "
        f"still holds with the defaults' margin (fence_after + probe_interval + "
        f"max_clock_drift + 3 probe intervals = {promote:g} s = promote_after): a daemon cut "
        "off from its peers fences its primary before the other side promotes.",
        f"the trade-off: a daemon that loses a majority of its peers for about "
        f"{fence + 3 * probe:.2g} s (fence_after plus the 3 probe intervals it takes to see "
        "the links drop) fences the primaries it reaches, so a peer-network hiccup that long "
        "pauses writes (no data is lost); raise fence_after and promote_after together if the "
        f"daemons' network is less reliable. max_clock_drift {drift:g} s over windows of a "
        "few seconds still allows clocks to run apart by percents, where NTP keeps them within "
        "parts per million.",
    ]
    return out, notes


def _settings_of(group: str, doc: dict[str, Any]) -> Settings:
    """The core settings a group document gives (validated: an error here is a bug of the
    planning above, caught again by :func:`_check`)."""
    keys = {f.name for f in dataclasses.fields(Settings)}
    values = {k: v for k, v in doc.items() if k in keys and k not in ("nodes", "voters")}
    return Settings(group=group, voters=tuple(doc["voters"]), nodes=tuple(doc["nodes"]), **values)


def _expected_failover(s: Settings) -> str:
    """The write unavailability after a primary's crash, by docs/tuning.md's arithmetic:
    max(down_after + U(0, election_jitter), promote_after) + up to one probe_interval."""
    low = max(s.down_after, s.promote_after)
    high = max(s.down_after + s.election_jitter, s.promote_after) + s.probe_interval
    text = (
        f"expected failover after the primary crashes (write unavailability): {low:.1f} to "
        f"{high:.1f} s, max(down_after + U(0, election_jitter), promote_after) + up to one "
        "probe_interval (docs/tuning.md)"
    )
    if s.policy == "consistency":
        text += (
            f", plus the write lease ({s.lease:g} s) when the old primary cannot be fenced, "
            f"so up to {high + s.lease:.1f} s"
        )
    return text + (
        "; Sentinel with the same down-after-milliseconds takes down-after plus its own "
        "election and promotion (bench/test_bench_failover.py measures both in one run)."
    )


def _start_fence_note(p: str, user: str | None, password: bool) -> str:
    """What each Valkey node's own config needs so it starts fenced (docs/concepts.md): the
    daemons lift that fence only on a node they have vetted, which Sentinel never did."""
    users = {"default": "on nopass ~* &* +@all"}
    if password:
        users["default"] = "on >PASSWORD ~* &* +@all"
    if user and user != "default":
        users[user] = "on >PASSWORD ~* &* +@all"
    lines = "; ".join(f"'{line}'" for line in start_fence_lines(users))
    caveat = (
        " A user line replaces that user's rules, password included, and overrides "
        "requirepass: put each user's real password and rules in it (drop requirepass)."
        if password or user
        else ""
    )
    return (
        f"{p} new in gungnir: every Valkey node should start fenced (no write, no replica "
        f"sync until a daemon has vetted it; a primary back without its data then cannot wipe "
        f"its replicas): add to each node's config file {lines}; the daemons lift it with "
        f"CONFIG SET and ACL SETUSER.{caveat}"
    )


def _tls(conf: SentinelConf, notes: list[str]) -> dict[str, str] | None:
    files = {
        "cert": conf.tls.get("tls-cert-file"),
        "key": conf.tls.get("tls-key-file"),
        "ca": conf.tls.get("tls-ca-cert-file"),
    }
    if not conf.tls:
        return None
    if all(files.values()):
        notes.append(
            "tls: the Sentinel's certificate, key and CA now secure the daemon's endpoint "
            "(peers and clients). Connections to the Valkey nodes stay plain."
        )
        return {k: str(v) for k, v in files.items()}
    notes.append("tls: incomplete tls-* settings (need cert, key and CA files) were dropped.")
    return None


def _check(doc: dict[str, Any], source: str) -> None:
    """Load the result with the daemon's own loader; the secret and TLS files live on the
    target host, so stand-ins are used for them here."""
    from gungnir.runtime.config import ConfigError, load

    probe = {**doc, "daemon": {**doc["daemon"]}}
    probe["daemon"].pop("secret_file", None)
    probe["daemon"].pop("tls", None)
    probe["daemon"]["secret"] = "x" * 32
    try:
        load(doc=probe, env={})
    except ConfigError as exc:
        raise MigrateError(f"{source}: the migrated configuration is invalid: {exc}") from None


# -- command line ------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="gungnir migrate-sentinel",
        description="Write the gungnir daemon configuration that replaces each Sentinel, "
        "explaining every setting it changed and why.",
    )
    ap.add_argument("confs", nargs="+", metavar="sentinel.conf", help="one file per Sentinel")
    out = ap.add_mutually_exclusive_group()
    out.add_argument("-o", "--output", help="file to write (one input only; default stdout)")
    out.add_argument("--out-dir", help="write <daemon-id>.yaml per input here")
    ap.add_argument(
        "--address",
        action="append",
        default=[],
        metavar="HOST:PORT",
        help="a Sentinel's own address when its file does not say (once per input, in order)",
    )
    ap.add_argument("--state-dir", default="/var/lib/gungnir")
    ap.add_argument("--secret-file", default="/etc/gungnir/secret")
    ap.add_argument("--policy", choices=("availability", "consistency"), default="availability")
    ap.add_argument("--force", action="store_true", help="overwrite existing output files")
    ap.add_argument("-q", "--quiet", action="store_true", help="no explanations on stderr")
    return ap


def main(argv: list[str]) -> int:
    """Exit 0 on success, 2 on input that cannot be migrated (nothing is written then)."""
    args = _parser().parse_args(argv)
    try:
        confs = []
        for path in args.confs:
            try:
                text = Path(path).read_text()
            except (OSError, UnicodeDecodeError) as exc:
                raise MigrateError(f"cannot read {path}: {exc}") from None
            confs.append(parse(text, path))
        addresses: list[Address | None] = []
        for a in args.address:
            from gungnir.runtime.config import ConfigError, parse_address

            try:
                addresses.append(parse_address(a, "--address"))
            except ConfigError as exc:
                raise MigrateError(str(exc)) from None
        outputs = migrate(
            confs,
            addresses=addresses,
            state_dir=args.state_dir,
            secret_file=args.secret_file,
            policy=args.policy,
        )
        targets: list[Path | None]
        if args.out_dir:
            targets = [Path(args.out_dir) / f"{o.daemon_id}.yaml" for o in outputs]
        elif args.output:
            if len(outputs) != 1:
                raise MigrateError("-o takes one input; use --out-dir for several")
            targets = [Path(args.output)]
        else:
            if len(outputs) != 1:
                raise MigrateError("several inputs: pass --out-dir DIR")
            targets = [None]
        for t in targets:
            if t is not None and t.exists() and not args.force:
                raise MigrateError(f"{t} exists; pass --force to overwrite it")
    except MigrateError as exc:
        print(f"gungnir migrate-sentinel: {exc}", file=sys.stderr)
        return 2
    for output, target in zip(outputs, targets, strict=True):
        text = output.render()
        if target is None:
            sys.stdout.write(text)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
        if not args.quiet:
            where = target or "stdout"
            print(f"{output.source} -> {where} (daemon {output.daemon_id})", file=sys.stderr)
            for note in output.notes:
                print(f"  - {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
