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
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gungnir.migrate_deploy import name_daemons, own_addresses, refuse_shared_nodes, stray_sentinels
from gungnir.migrate_timing import DEFAULTS, derived_notes, expected_failover, settings_of
from gungnir.runtime.config import GroupConfig
from gungnir.runtime.startfence import start_fence_lines
from gungnir.sentinelconf import (
    WILDCARDS,
    Address,
    MigrateError,
    Monitor,
    SentinelConf,
    fmt_address,
    parse,
)

__all__ = ["MigrateError", "Monitor", "Output", "SentinelConf", "main", "migrate", "parse"]

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
    #: what the operator must look at before starting the daemon (also among the notes)
    warnings: list[str] = dataclasses.field(default_factory=list)

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


_fmt = fmt_address


def _seconds(ms: int) -> float:
    return ms / 1000


def migrate(
    confs: Sequence[SentinelConf],
    *,
    addresses: Sequence[Address | None] = (),
    names: Sequence[str | None] = (),
    peers: Mapping[str, Address] | None = None,
    add_daemons: Mapping[str, Address] | None = None,
    state_dir: str = "/var/lib/gungnir",
    secret_file: str = "/etc/gungnir/secret",
    policy: str = "availability",
) -> list[Output]:
    """One :class:`Output` per input Sentinel and per added daemon; raise
    :class:`MigrateError` when the deployment cannot be expressed (fewer than 3 daemons, two
    groups on the same nodes, an unknown own address...).

    Voters are named here, never gathered from Sentinel's gossip (design rule 9): each
    input is the daemon ``names[i]`` (default ``d1``, ``d2``... in input order), ``peers``
    are daemons migrated elsewhere (named, no output here) and ``add_daemons`` are new
    daemons without a Sentinel behind them (their configuration is written too: the way
    to a third voter for a deployment of two Sentinels).  ``known-sentinel`` lines only
    cross-check that list: one naming an address nobody named is a warning, not a voter.
    """
    if not confs:
        raise MigrateError("no sentinel.conf given")
    if policy not in ("availability", "consistency"):
        raise MigrateError(f"policy must be availability or consistency, got {policy!r}")
    selves = own_addresses(confs, addresses)
    peers, add_daemons = dict(peers or {}), dict(add_daemons or {})
    daemons = name_daemons(confs, selves, names, peers, add_daemons)
    by_addr = {a: n for n, a in daemons.items()}
    peer_text = {n: _fmt(a) for n, a in daemons.items()}
    warnings = stray_sentinels(confs, by_addr)

    group_docs: dict[str, tuple[dict[str, Any], list[str]]] = {}
    for group in sorted({g for c in confs for g in c.monitors}):
        group_docs[group] = _group(group, confs, selves, daemons, [*peers, *add_daemons], policy)
    refuse_shared_nodes(group_docs)
    for _, gnotes in group_docs.values():
        warnings.extend(n for n in gnotes if n.startswith("WARNING"))

    sources: list[tuple[SentinelConf | None, Address]] = [*zip(confs, selves, strict=True)]
    sources += [(None, a) for a in add_daemons.values()]
    outputs = []
    for conf, me in sources:
        name = by_addr[me]
        notes = [
            *warnings,
            f"This Sentinel ({_fmt(me)}) becomes daemon {name}, listening on the same "
            "address: gungnir's endpoint speaks the Sentinel commands, so clients keep their "
            "Sentinel list. Stop the Sentinel before starting the daemon."
            if conf is not None
            else f"Daemon {name} ({_fmt(me)}) is new: no Sentinel ran there (--add-daemon). "
            "Run it on a host of its own, so that one host lost leaves a majority.",
            "peers: the daemons named for this migration (inputs in order d1, d2... unless "
            "--name says otherwise, --peer and --add-daemon), fixed and by name; "
            "known-sentinel lines (Sentinel's gossip) only cross-check them. "
            + ", ".join(f"{n}={a}" for n, a in peer_text.items()),
            f"secret_file {secret_file}: peers authenticate with an HMAC over a shared "
            "secret (Sentinel's sentinel-pass is not reused). Create it on every daemon "
            "with the same content, e.g. `openssl rand -hex 32`, mode 0600.",
            f"state_dir {state_dir}/{name}: the daemon's epoch and vote, fsynced before it "
            "answers; one directory per daemon, so daemons sharing a host never share state. "
            "Sentinel's epochs are not carried over (gungnir's start from this state).",
        ]
        daemon: dict[str, Any] = {
            "id": name,
            "bind": _fmt(me if conf is None else (_bind_host(conf), conf.port)),
            "state_dir": f"{state_dir}/{name}",
            "secret_file": secret_file,
        }
        if conf is not None:
            _sentinel_endpoint(conf, daemon, notes)
        groups = {}
        for group, (doc, gnotes) in group_docs.items():
            if conf is not None and group not in conf.monitors:
                continue
            groups[group] = doc
            notes.extend(n for n in gnotes if not n.startswith("WARNING"))
            if name not in doc["voters"]:
                notes.append(f"group {group}: {name} is an observer (not in voters).")
        for lineno, key, why in conf.dropped if conf is not None else ():
            notes.append(f"dropped line {lineno} '{key}': {why}.")
        doc = {"daemon": daemon, "peers": dict(peer_text), "groups": groups}
        source = conf.path if conf is not None else f"--add-daemon {name}={_fmt(me)}"
        _check(doc, source)
        outputs.append(Output(name, source, doc, notes, list(warnings)))
    return outputs


def _bind_host(conf: SentinelConf) -> str:
    return next((h.lstrip("-") for h in conf.bind if h not in WILDCARDS), "0.0.0.0")


def _sentinel_endpoint(conf: SentinelConf, daemon: dict[str, Any], notes: list[str]) -> None:
    """What the Sentinel's own endpoint settings become: its client password and TLS."""
    if conf.requirepass:
        daemon["sentinel_password"] = conf.requirepass
        notes.append(
            "sentinel_password: from requirepass; clients AUTH to the daemon with it as "
            "they did to Sentinel."
        )
    tls = _tls(conf, notes)
    if tls:
        daemon["tls"] = tls


def _group(
    group: str,
    confs: Sequence[SentinelConf],
    selves: Sequence[Address],
    daemons: Mapping[str, Address],
    elsewhere: Sequence[str],
    policy: str,
) -> tuple[dict[str, Any], list[str]]:
    """The group's document and notes; notes starting with WARNING are the operator's to
    act on.  ``elsewhere``: daemons without an input here, taken to watch every group."""
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
    if len(ordered) == 1:
        notes.append(
            f"WARNING: {p} no known-replica line in any input, so the group holds only its "
            f"primary {_fmt(mon.primary)} and can never fail over. Sentinel writes those lines "
            "once it has seen the replicas: migrate files of a running Sentinel, or add the "
            f"replicas under groups.{group}.nodes in every written file."
        )

    by_addr = {a: n for n, a in daemons.items()}
    order = list(daemons)
    watchers = sorted({by_addr[me] for _, _, me in seen} | set(elsewhere), key=order.index)
    n = len(watchers)
    if n < 3:
        missing = ", ".join(f"d{i}" for i in range(len(daemons) + 1, len(daemons) + 4 - n))
        raise MigrateError(
            f"{p} watched by {n} daemon(s) ({', '.join(watchers)}); gungnir needs 3 or 5 "
            "voting daemons so that a majority survives one failure. A daemon needs no "
            "Sentinel, only a host of its own: add one with --add-daemon NAME=HOST:PORT "
            f"(e.g. {missing}) and its configuration is written too"
        )
    size = 5 if n >= 5 else 3
    voters = watchers[:size]
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
            f"default would be {DEFAULTS['down_after']} s. Detection takes down_after plus up "
            "to one probe_interval; the failover time is below (docs/tuning.md)."
        )
    else:
        notes.append(
            f"{p} down_after = 30 s: Sentinel's default (no down-after-milliseconds line), "
            f"kept so detection does not change; gungnir's default is {DEFAULTS['down_after']} s."
        )
    if max(0.2, min(1.0, down / 2)) >= down:
        doc["probe_timeout"] = round(down / 2, 3)
        notes.append(f"{p} probe_timeout = {doc['probe_timeout']:g} s: must be < down_after.")
    ft_ms = mon.failover_timeout_ms
    if ft_ms:
        doc["failover_timeout"] = _seconds(ft_ms)
        notes.append(
            f"{p} failover_timeout = {doc['failover_timeout']:g} s (failover-timeout {ft_ms}) "
            "kept. In gungnir it bounds one leader's whole failover before another epoch may "
            "try; Sentinel also uses it for retries (twice the value) and replica "
            "reconfiguration."
        )
    # The lease does not depend on the policy: measure it before the consistency rule on
    # failover_timeout is checked, so a short Sentinel failover-timeout can be raised.
    settings = settings_of(group, {**doc, "policy": "availability"})
    if policy == "consistency":
        need = settings.promote_after + settings.lease
        if doc.get("failover_timeout", math.inf) <= need:
            raised = float(math.ceil(need + 3 * _ACTION_TIMEOUT))
            notes.append(
                f"{p} failover_timeout raised to {raised:g} s: under the consistency policy it "
                f"must exceed promote_after + lease ({settings.promote_after:g} + "
                f"{settings.lease:g} s) plus a few node actions, or a failover whose old "
                "primary is unreachable would always time out."
            )
            doc["failover_timeout"] = raised
    settings = settings_of(group, doc)
    notes.extend(f"{p} {n}" for n in derived_notes(settings))
    notes.append(f"{p} {expected_failover(settings)}")
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
    ap.add_argument(
        "--name",
        action="append",
        default=[],
        metavar="NAME",
        help="the daemon name of an input (once per input, in order; default d1, d2...)",
    )
    ap.add_argument(
        "--peer",
        action="append",
        default=[],
        metavar="NAME=HOST:PORT",
        help="a daemon migrated elsewhere (a voter; its file is not written here)",
    )
    ap.add_argument(
        "--add-daemon",
        action="append",
        default=[],
        metavar="NAME=HOST:PORT",
        help="a new daemon with no Sentinel behind it (its configuration is written too)",
    )
    ap.add_argument(
        "--state-dir",
        default="/var/lib/gungnir",
        help="base directory; each daemon keeps its state in a subdirectory named after it",
    )
    ap.add_argument("--secret-file", default="/etc/gungnir/secret")
    ap.add_argument("--policy", choices=("availability", "consistency"), default="availability")
    ap.add_argument("--force", action="store_true", help="overwrite existing output files")
    ap.add_argument("-q", "--quiet", action="store_true", help="no explanations on stderr")
    return ap


def _address(text: str, what: str) -> Address:
    from gungnir.runtime.config import ConfigError, parse_address

    try:
        return parse_address(text, what)
    except ConfigError as exc:
        raise MigrateError(str(exc)) from None


def _named(items: Sequence[str], what: str) -> dict[str, Address]:
    out: dict[str, Address] = {}
    for item in items:
        name, sep, addr = item.partition("=")
        if not sep or not name:
            raise MigrateError(f"{what} takes NAME=HOST:PORT, got {item!r}")
        if name in out:
            raise MigrateError(f"{what}: daemon name {name!r} is given twice")
        out[name] = _address(addr, what)
    return out


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
        addresses: list[Address | None] = [_address(a, "--address") for a in args.address]
        outputs = migrate(
            confs,
            addresses=addresses,
            names=args.name,
            peers=_named(args.peer, "--peer"),
            add_daemons=_named(args.add_daemon, "--add-daemon"),
            state_dir=args.state_dir,
            secret_file=args.secret_file,
            policy=args.policy,
        )
        targets: list[Path | None]
        if args.out_dir:
            targets = [Path(args.out_dir) / f"{o.daemon_id}.yaml" for o in outputs]
        elif args.output:
            if len(outputs) != 1:
                raise MigrateError(
                    "-o writes one file, and this migration writes several: --out-dir"
                )
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
    warned: set[str] = set()
    for output, target in zip(outputs, targets, strict=True):
        text = output.render()
        if target is None:
            sys.stdout.write(text)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                f.write(text)
        for warning in output.warnings if args.quiet else ():
            if warning not in warned:  # most are about the deployment, said once
                warned.add(warning)
                print(f"gungnir migrate-sentinel: {warning}", file=sys.stderr)
        if not args.quiet:
            where = target or "stdout"
            print(f"{output.source} -> {where} (daemon {output.daemon_id})", file=sys.stderr)
            for note in output.notes:
                print(f"  - {note}", file=sys.stderr)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main(sys.argv[1:]))
