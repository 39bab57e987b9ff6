"""Reading a sentinel.conf the way Sentinel reads it, for ``gungnir migrate-sentinel``.

Why a parser of our own: Sentinel rewrites its file with Valkey's quoting rules (passwords and
paths in double quotes with escapes) and appends what it learned (``known-replica``,
``known-sentinel``, epochs, its id), so a line-by-line ``split()`` gets passwords wrong.  Every
line is either understood, or kept with the reason gungnir does not need it, so the migration
can say what it dropped; a line Sentinel itself would refuse is an error naming file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = [
    "Address",
    "MigrateError",
    "Monitor",
    "SentinelConf",
    "fmt_address",
    "parse",
    "split_line",
]

Address = tuple[str, int]

WILDCARDS = {"*", "-*", "0.0.0.0", "::", "-::*", "::*"}
#: Server directives every Sentinel has that mean nothing to a gungnir daemon.
_HARMLESS = {
    "dir": "gungnir keeps its durable state in daemon.state_dir",
    "logfile": "gungnir logs to stderr (log_format text or json)",
    "pidfile": "gungnir runs in the foreground under a supervisor",
    "daemonize": "gungnir runs in the foreground under a supervisor",
    "protected-mode": "peers always authenticate; for clients set sentinel_password",
    "loglevel": "see daemon.log_level",
    "latency-tracking-info-percentiles": "a server statistic, not a Sentinel setting",
    "user": "Sentinel's own ACL users: gungnir has one client password, sentinel_password",
    "aclfile": "Sentinel's own ACL users: gungnir has one client password, sentinel_password",
    "syslog-enabled": "gungnir logs to stderr",
    "syslog-ident": "gungnir logs to stderr",
    "tcp-keepalive": "not a Sentinel setting",
    "save": "not a Sentinel setting",
    "appendonly": "not a Sentinel setting",
}
_DROPPED_SENTINEL = {
    "myid": "gungnir daemons are named in the configuration (peers), not by a random run id",
    "current-epoch": "gungnir keeps its own epochs, durably, in daemon.state_dir",
    "deny-scripts-reconfig": "gungnir runs no scripts",
    "resolve-hostnames": "gungnir resolves host names in addresses when it connects",
    "announce-hostnames": "peers are listed by the address written in 'peers'",
    "sentinel-user": "peers authenticate with an HMAC over the shared secret (secret_file)",
    "sentinel-pass": "peers authenticate with an HMAC over the shared secret (secret_file)",
}
_DROPPED_MONITOR = {
    "config-epoch": "gungnir's epochs are its own and start from its durable state",
    "leader-epoch": "gungnir's epochs are its own and start from its durable state",
    "notification-script": "gungnir runs no scripts: alert on its metrics "
    "(k8s/monitoring/prometheusrule.yaml) or subscribe to +switch-master on its endpoint",
    "client-reconfig-script": "gungnir runs no scripts: clients follow +switch-master on its "
    "endpoint, exactly as with Sentinel",
    "master-reboot-down-after-period": "no equivalent: a primary that restarts empty is never "
    "promoted and is turned into a replica by reconcile",
    "primary-reboot-down-after-period": "no equivalent: a primary that restarts empty is never "
    "promoted and is turned into a replica by reconcile",
    "rename-command": "gungnir sends ROLE, INFO, REPLICAOF, CONFIG SET and CLIENT PAUSE under "
    "their own names; renamed commands on the nodes are not supported",
}


def fmt_address(addr: Address) -> str:
    """``host:port``, with IPv6 hosts in brackets, as gungnir's configuration writes them."""
    host, port = addr
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class MigrateError(ValueError):
    """The input cannot be migrated; the message names the file, the line and the fix."""


@dataclass
class Monitor:
    """One ``sentinel monitor`` block, with everything Sentinel wrote about it."""

    name: str
    primary: Address
    quorum: int
    line: int
    down_after_ms: int | None = None
    failover_timeout_ms: int | None = None
    parallel_syncs: int | None = None
    auth_pass: str | None = None
    auth_user: str | None = None
    config_epoch: int = 0
    replicas: list[Address] = field(default_factory=list)
    sentinels: list[Address] = field(default_factory=list)
    dropped: list[tuple[int, str, str]] = field(default_factory=list)


@dataclass
class SentinelConf:
    """What one sentinel.conf says (only the parts that matter for a migration)."""

    path: str
    port: int = 26379
    bind: list[str] = field(default_factory=list)
    announce_ip: str | None = None
    announce_port: int | None = None
    requirepass: str | None = None
    tls: dict[str, str] = field(default_factory=dict)
    monitors: dict[str, Monitor] = field(default_factory=dict)
    dropped: list[tuple[int, str, str]] = field(default_factory=list)

    def address(self) -> Address | None:
        """The address other Sentinels and clients know this one by, if the file says."""
        port = self.announce_port or self.port
        if self.announce_ip:
            return (self.announce_ip, port)
        for host in self.bind:
            if host not in WILDCARDS:
                return (host.lstrip("-"), port)
        return None


# -- parsing -----------------------------------------------------------------------------


def split_line(line: str, where: str) -> list[str]:
    """Split one config line into arguments with Valkey's quoting rules: double quotes with
    backslash escapes (``\\n``, ``\\xHH``...), single quotes with only ``\\'``; a closing quote
    must be followed by a space or the end of the line."""
    args: list[str] = []
    i, n = 0, len(line)
    escapes = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "a": "\a"}
    while True:
        while i < n and line[i].isspace():
            i += 1
        if i >= n:
            return args
        cur: list[str] = []
        quote = ""
        while True:
            if quote == '"':
                if i >= n:
                    raise MigrateError(f"{where}: unbalanced double quote")
                c = line[i]
                if c == "\\" and i + 3 < n and line[i + 1] == "x" and _hex2(line[i + 2 : i + 4]):
                    cur.append(chr(int(line[i + 2 : i + 4], 16)))
                    i += 4
                    continue
                if c == "\\" and i + 1 < n:
                    cur.append(escapes.get(line[i + 1], line[i + 1]))
                    i += 2
                    continue
                if c == '"':
                    if i + 1 < n and not line[i + 1].isspace():
                        raise MigrateError(f"{where}: closing quote must be followed by a space")
                    i += 1
                    break
                cur.append(c)
                i += 1
            elif quote == "'":
                if i >= n:
                    raise MigrateError(f"{where}: unbalanced single quote")
                c = line[i]
                if c == "\\" and i + 1 < n and line[i + 1] == "'":
                    cur.append("'")
                    i += 2
                    continue
                if c == "'":
                    if i + 1 < n and not line[i + 1].isspace():
                        raise MigrateError(f"{where}: closing quote must be followed by a space")
                    i += 1
                    break
                cur.append(c)
                i += 1
            else:
                if i >= n or line[i].isspace():
                    break
                if line[i] in "\"'" and not cur:
                    quote = line[i]
                    i += 1
                    continue
                cur.append(line[i])
                i += 1
        args.append("".join(cur))


def _hex2(text: str) -> bool:
    return len(text) == 2 and all(c in "0123456789abcdefABCDEF" for c in text)


def _int(text: str, where: str, what: str, minimum: int = 0) -> int:
    try:
        value = int(text)
    except ValueError:
        raise MigrateError(f"{where}: {what} must be a whole number, got {text!r}") from None
    if value < minimum:
        raise MigrateError(f"{where}: {what} must be >= {minimum}, got {value}")
    return value


def _port(text: str, where: str) -> int:
    port = _int(text, where, "port")
    if not 0 < port < 65536:
        raise MigrateError(f"{where}: port {port} is out of range")
    return port


def parse(text: str, path: str = "<sentinel.conf>") -> SentinelConf:
    """Parse a sentinel.conf as Sentinel would read it; raise :class:`MigrateError` on a line
    Sentinel itself would refuse, naming the file and line."""
    conf = SentinelConf(path=path)
    # Sentinel applies every 'monitor' line first and the lines about a group after them,
    # whatever their order in the file (Valkey 9.1.2 loads 'sentinel failover-timeout g 1'
    # above 'sentinel monitor g ...'); a group that no monitor line names is an error.
    later: list[tuple[str, list[str], str, int]] = []
    for lineno, raw in enumerate(text.splitlines(), 1):
        where = f"{path}:{lineno}"
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        args = split_line(stripped, where)
        key = args[0].lower()
        if key == "sentinel":
            if len(args) < 2:
                raise MigrateError(f"{where}: 'sentinel' needs a sub-command")
            sub, rest = args[1].lower(), args[2:]
            if _sentinel_line(conf, sub, rest, where, lineno):
                later.append((sub, rest, where, lineno))
        elif key == "port":
            conf.port = _port(_one(args, where), where)
        elif key == "bind":
            conf.bind = args[1:]
        elif key == "requirepass":
            conf.requirepass = _one(args, where) or None
        elif key in ("tls-cert-file", "tls-key-file", "tls-ca-cert-file", "tls-port"):
            conf.tls[key] = _one(args, where)
        elif key.startswith("tls-"):
            conf.dropped.append((lineno, key, "gungnir's TLS takes a cert, key and CA only"))
        elif key in _HARMLESS:
            conf.dropped.append((lineno, key, _HARMLESS[key]))
        else:
            conf.dropped.append((lineno, key, "not a setting gungnir has"))
    if not conf.monitors:
        raise MigrateError(f"{path}: no 'sentinel monitor' line: this is not a Sentinel config")
    for sub, rest, where, lineno in later:
        _group_line(conf, sub, rest, where, lineno)
    return conf


def _one(args: list[str], where: str) -> str:
    if len(args) != 2:
        raise MigrateError(f"{where}: {args[0]} takes exactly one argument")
    return args[1]


def _sentinel_line(conf: SentinelConf, sub: str, rest: list[str], where: str, lineno: int) -> bool:
    """Apply a line about Sentinel itself; True for a line about a group, applied once
    every monitor line is read."""
    if sub == "monitor":
        if len(rest) != 4:
            raise MigrateError(f"{where}: usage: sentinel monitor <name> <host> <port> <quorum>")
        name, host, port, quorum = rest
        if name in conf.monitors:
            raise MigrateError(f"{where}: group {name!r} is monitored twice")
        conf.monitors[name] = Monitor(
            name, (host, _port(port, where)), _int(quorum, where, "quorum", 1), lineno
        )
    elif sub == "announce-ip":
        conf.announce_ip = rest[0] if rest and rest[0] else None
    elif sub == "announce-port":
        conf.announce_port = _int(rest[0], where, "announce-port") if rest else None
        conf.announce_port = conf.announce_port or None
    elif sub in _DROPPED_SENTINEL:
        conf.dropped.append((lineno, f"sentinel {sub}", _DROPPED_SENTINEL[sub]))
    elif not rest:
        conf.dropped.append((lineno, f"sentinel {sub}", "not a setting gungnir has"))
    else:
        return True
    return False


def _group_line(conf: SentinelConf, sub: str, rest: list[str], where: str, lineno: int) -> None:
    mon = conf.monitors.get(rest[0])
    if mon is None:
        raise MigrateError(
            f"{where}: 'sentinel {sub} {rest[0]}' names no group that a 'sentinel monitor' "
            "line of this file monitors (Sentinel refuses this file too)"
        )
    args = rest[1:]
    need = {"down-after-milliseconds": 1, "failover-timeout": 1, "parallel-syncs": 1}
    if sub in need and len(args) != 1:
        raise MigrateError(f"{where}: sentinel {sub} <name> <value>")
    if sub == "down-after-milliseconds":
        mon.down_after_ms = _int(args[0], where, sub, 1)
    elif sub == "failover-timeout":
        mon.failover_timeout_ms = _int(args[0], where, sub, 1)
    elif sub == "parallel-syncs":
        mon.parallel_syncs = _int(args[0], where, sub, 1)
    elif sub == "auth-pass":
        mon.auth_pass = args[0] if args else None
    elif sub == "auth-user":
        mon.auth_user = args[0] if args else None
    elif sub == "config-epoch":
        mon.config_epoch = _int(args[0], where, sub) if args else 0
        mon.dropped.append((lineno, f"sentinel {sub}", _DROPPED_MONITOR[sub]))
    elif sub in ("known-replica", "known-slave", "known-sentinel"):
        if len(args) < 2:
            raise MigrateError(f"{where}: sentinel {sub} <name> <host> <port>")
        addr = (args[0], _port(args[1], where))
        target = mon.sentinels if sub == "known-sentinel" else mon.replicas
        if addr not in target:
            target.append(addr)
    elif sub in _DROPPED_MONITOR:
        mon.dropped.append((lineno, f"sentinel {sub}", _DROPPED_MONITOR[sub]))
    else:
        mon.dropped.append((lineno, f"sentinel {sub}", "not a setting gungnir has"))
