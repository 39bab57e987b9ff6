"""Daemon configuration: a YAML or TOML file, then environment, then flags; validated once.

Why validate everything at start-up: a daemon that starts with a wrong peer list or a broken
timing rule does not fail loudly later, it fails over wrongly later.  Every error names the
file, the key and what to change.  Group settings are the core's :class:`Settings`, so the
core's own validation (3 or 5 voters, the fencing timing rule
``fence_after + probe_interval + max_clock_drift < promote_after``) is the one that applies.

Layout (YAML shown; TOML has the same keys)::

    daemon:
      id: d1                        # this daemon's name, one of peers
      bind: 127.0.0.1:26379         # RESP endpoint: Sentinel commands + peer protocol
      state_dir: /var/lib/gungnir   # durable epoch and vote, one file per group
      secret_file: /etc/gungnir/secret   # or secret: ..., or GUNGNIR_SECRET
    peers: {d1: 10.0.0.1:26379, d2: 10.0.0.2:26379, d3: 10.0.0.3:26379}
    groups:
      cache:
        nodes: {cache-0: 10.0.1.1:6379, cache-1: 10.0.1.2:6379}
        quorum: 2
        down_after: 1.0             # any field of gungnir.core.Settings
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gungnir.core import Settings, SettingsError

__all__ = [
    "DAEMON_KEYS",
    "DEFAULTS",
    "GROUP_RUNTIME_KEYS",
    "HELP",
    "ConfigError",
    "DaemonConfig",
    "GroupConfig",
    "TlsConfig",
    "load",
    "parse_address",
]

Address = tuple[str, int]

_SETTINGS_FIELDS = {f.name: f for f in dataclasses.fields(Settings)}
#: Settings fields that are numbers (``from __future__ import annotations``: types are text).
_NUMERIC_SETTINGS = {n: f.type for n, f in _SETTINGS_FIELDS.items() if f.type in ("int", "float")}
#: Per-group keys the loader takes besides the core's Settings fields.
GROUP_RUNTIME_KEYS = {"nodes", "password", "username", "probe_timeout", "action_timeout"}
#: Keys of the ``daemon`` section.
DAEMON_KEYS = {
    "id",
    "bind",
    "state_dir",
    "secret",
    "secret_file",
    "tls",
    "decision_log",
    "log_format",
    "log_level",
    "metrics_bind",
    "sentinel_password",
}
#: (environment variable, daemon key); flags use the key with dashes.
ENV = {f"GUNGNIR_{k.upper()}": k for k in sorted(DAEMON_KEYS - {"tls"})}

#: ``(default in words, help)`` for every loader key (``DAEMON_KEYS`` and
#: ``GROUP_RUNTIME_KEYS`` but ``nodes``): the source of ``docs/configuration.md``
#: (``python -m gungnir.configref``), whose test fails when a key has no text.
_DOCS: dict[str, tuple[str, str]] = {
    "id": ("required", "This daemon's name; must be one of `peers`."),
    "bind": (
        "this daemon's `peers` entry",
        "host:port of the RESP endpoint: Sentinel commands, operator commands, peer protocol.",
    ),
    "state_dir": (
        "required",
        "Directory of the durable epoch and vote, one file per group; fsynced before any "
        "message that depends on it leaves the daemon.",
    ),
    "secret": (
        "none",
        "Shared secret of the peers (at least 8 characters). Required when there are peers. "
        "Prefer `secret_file`.",
    ),
    "secret_file": ("none", "File holding the shared secret; wins over `secret`."),
    "tls": (
        "none",
        "`{cert, key, ca, server_name}`: TLS on the whole endpoint (peers and Sentinel "
        "clients). A daemon checks the certificate of each peer it connects to against `ca` "
        "(and `server_name` when set); the server side does not require a client certificate "
        "(Sentinel clients usually have none), so peers prove who they are with the shared "
        "secret's HMAC, not with TLS.",
    ),
    "decision_log": (
        "none",
        "JSON-lines file of the core's decisions, replayable by `python -m gungnir.verify.trace`.",
    ),
    "log_format": ("`text`", "`text` or `json` (one object per line, with group and epoch)."),
    "log_level": ("`INFO`", "`DEBUG`, `INFO`, `WARNING` or `ERROR`."),
    "metrics_bind": ("none", "host:port for `/metrics`, `/healthz` and `/readyz`."),
    "sentinel_password": (
        "none",
        "Password Sentinel clients and the CLI must AUTH with (Sentinel's `requirepass`).",
    ),
    "password": ("none", "AUTH password for the group's Valkey nodes."),
    "username": ("none", "AUTH user name (ACL) for the group's Valkey nodes."),
    "probe_timeout": (
        "max(0.2, min(1.0, down_after / 2))",
        "Seconds a probe may take before the node counts as not answering; must be < `down_after`.",
    ),
    "action_timeout": ("3.0", "Seconds a node action (fence, promote, repoint) may take."),
}
#: key -> help text of the loader's own keys (the core documents its Settings itself).
HELP: dict[str, str] = {k: text for k, (_, text) in _DOCS.items()}
#: key -> the default, in words where the loader computes it.
DEFAULTS: dict[str, str] = {k: default for k, (default, _) in _DOCS.items()}


class ConfigError(ValueError):
    """The configuration is invalid; the message says where and how to fix it."""


def _unknown(where: str, keys: set[Any], known: set[str]) -> ConfigError:
    """An unknown-keys error that guesses the intended key (``did you mean``) for each typo,
    so ``promote_afer`` costs one read of the message, not a read of the docs."""
    parts = []
    for key in sorted(keys, key=str):
        close = difflib.get_close_matches(str(key), sorted(known), n=1, cutoff=0.6)
        parts.append(f"{key!r} (did you mean {close[0]!r}?)" if close else repr(key))
    return ConfigError(
        f"{where}: unknown keys {', '.join(parts)}; known: {', '.join(sorted(known))}"
    )


def _number(value: Any, where: str, *, integer: bool = False) -> float:
    """A finite number from a config value, or a :class:`ConfigError` naming ``where``.

    Every numeric key goes through here, so ``probe_timeout: "abc"`` is a start-up error that
    names the key instead of a bare ``ValueError``.  Numbers written as text (a quoted YAML
    value) are read as numbers; booleans are refused (``float(True)`` is 1.0, which would
    hide a typo), and so are NaN and infinity, which slip through every ``<``/``>`` check.
    """
    kind = "a whole number" if integer else "a number"
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ConfigError(f"{where} must be {kind}, got {value!r}")
    try:
        result = int(value) if integer and not isinstance(value, float) else float(value)
    except ValueError:
        raise ConfigError(f"{where} must be {kind}, got {value!r}") from None
    if not math.isfinite(result) or (integer and result != int(result)):
        raise ConfigError(f"{where} must be {kind}, got {value!r}")
    return int(result) if integer else result


def parse_address(text: Any, where: str) -> Address:
    """``host:port`` or ``[v6]:port`` -> (host, port)."""
    if not isinstance(text, str) or ":" not in text:
        raise ConfigError(f"{where}: expected 'host:port', got {text!r}")
    host, _, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    try:
        port = int(port_text)
    except ValueError:
        raise ConfigError(f"{where}: port {port_text!r} is not a number") from None
    if not host or not 0 <= port <= 65535:
        raise ConfigError(f"{where}: bad address {text!r}")
    return host, port


@dataclass(frozen=True)
class TlsConfig:
    """TLS for peer links: our certificate and key, and the CA that signs every peer's."""

    cert: str
    key: str
    ca: str
    server_name: str | None = None


@dataclass(frozen=True)
class GroupConfig:
    settings: Settings
    nodes: Mapping[str, Address]
    password: str | None = None
    username: str | None = None
    probe_timeout: float = 1.0
    action_timeout: float = 3.0

    @property
    def name(self) -> str:
        return self.settings.group


@dataclass(frozen=True)
class DaemonConfig:
    id: str
    bind: Address
    state_dir: Path
    peers: Mapping[str, Address]
    groups: Mapping[str, GroupConfig]
    secret: str | None = None
    tls: TlsConfig | None = None
    decision_log: Path | None = None
    log_format: str = "text"
    log_level: str = "INFO"
    metrics_bind: Address | None = None
    sentinel_password: str | None = None
    source: str = "<dict>"
    extra: Mapping[str, Any] = field(default_factory=dict)
    # Kubernetes: the namespace the groups live in, which scopes the state files (two
    # namespaces with a group of one name on one node must not share an epoch or a vote)
    namespace: str | None = None

    @property
    def other_peers(self) -> dict[str, Address]:
        return {k: v for k, v in self.peers.items() if k != self.id}


def _read_file(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        if path.suffix == ".toml":
            doc: Any = tomllib.loads(raw.decode())
        else:
            import yaml

            doc = yaml.safe_load(raw.decode())
    except Exception as exc:
        raise ConfigError(f"{path}: not valid {path.suffix or 'YAML'}: {exc}") from None
    if doc is None:
        doc = {}
    if not isinstance(doc, dict):
        raise ConfigError(f"{path}: the top level must be a mapping")
    return doc


def load(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    doc: Mapping[str, Any] | None = None,
) -> DaemonConfig:
    """File (or ``doc``), then ``env`` (``GUNGNIR_*``), then ``overrides`` (flags) win."""
    source = str(path) if path is not None else "<dict>"
    data: dict[str, Any] = dict(doc or {})
    if path is not None:
        data = _read_file(Path(path))
    unknown = set(data) - {"daemon", "peers", "groups"}
    if unknown:
        raise _unknown(f"{source}: top level", unknown, {"daemon", "peers", "groups"})
    daemon = dict(data.get("daemon") or {})
    for key, value in (env if env is not None else os.environ).items():
        if key in ENV and value != "":
            daemon[ENV[key]] = value
    for key, value in (overrides or {}).items():
        if value is not None:
            daemon[key] = value
    return _build(source, daemon, data.get("peers") or {}, data.get("groups") or {})


def _build(source: str, daemon: dict[str, Any], peers_raw: Any, groups_raw: Any) -> DaemonConfig:
    def err(msg: str) -> ConfigError:
        return ConfigError(f"{source}: {msg}")

    unknown = set(daemon) - DAEMON_KEYS
    if unknown:
        raise _unknown(f"{source}: daemon", unknown, DAEMON_KEYS)
    me = daemon.get("id")
    if not isinstance(me, str) or not me:
        raise err("daemon.id is required (or GUNGNIR_ID / --id)")
    if not isinstance(peers_raw, Mapping):
        raise err("'peers' must map daemon names to host:port")
    peers = {str(k): parse_address(v, f"{source}: peers.{k}") for k, v in peers_raw.items()}
    if "bind" in daemon:
        bind = parse_address(daemon["bind"], f"{source}: daemon.bind")
    elif me in peers:
        bind = peers[me]
    elif peers:  # most often a typo in the id, rarely a daemon outside the voters on purpose
        close = difflib.get_close_matches(me, sorted(peers), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise err(
            f"daemon.id {me} is not in peers: {', '.join(sorted(peers))}{hint}; fix the id, "
            f"or give daemon.bind to run a daemon that is not one of the peers"
        )
    else:
        raise err("daemon.bind is required when there are no peers")
    peers.setdefault(me, bind)
    state_dir = daemon.get("state_dir")
    if not state_dir:
        raise err("daemon.state_dir is required: epoch and vote must survive restarts")
    secret = daemon.get("secret")
    if daemon.get("secret_file"):
        try:
            secret = Path(daemon["secret_file"]).read_text().strip()
        except OSError as exc:
            raise err(f"cannot read secret_file {daemon['secret_file']}: {exc.strerror}") from None
    if len(peers) > 1 and not secret:
        raise err("a shared secret is required with peers (secret, secret_file, GUNGNIR_SECRET)")
    if secret is not None and len(str(secret)) < 8:
        raise err("the shared secret must be at least 8 characters")
    tls = None
    if daemon.get("tls"):
        t = daemon["tls"]
        if not isinstance(t, Mapping) or not all(t.get(k) for k in ("cert", "key", "ca")):
            raise err("daemon.tls needs cert, key and ca")
        for k in ("cert", "key", "ca"):
            if not Path(t[k]).is_file():
                raise err(f"daemon.tls.{k}: no such file {t[k]}")
        tls = TlsConfig(str(t["cert"]), str(t["key"]), str(t["ca"]), t.get("server_name"))
    log_format = str(daemon.get("log_format", "text"))
    if log_format not in ("text", "json"):
        raise err(f"daemon.log_format must be 'text' or 'json', got {log_format!r}")
    level = str(daemon.get("log_level", "INFO")).upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise err(f"daemon.log_level must be DEBUG, INFO, WARNING or ERROR, got {level!r}")
    metrics = daemon.get("metrics_bind")
    if not isinstance(groups_raw, Mapping) or not groups_raw:
        raise err("'groups' must name at least one group")
    groups = {
        str(name): _group(source, str(name), g, sorted(peers)) for name, g in groups_raw.items()
    }
    for g in groups.values():
        missing = [v for v in (*g.settings.voters, *g.settings.next_voters) if v not in peers]
        if missing:
            raise err(f"groups.{g.name}: voters {missing} are not in peers")
    return DaemonConfig(
        id=me,
        bind=bind,
        state_dir=Path(str(state_dir)),
        peers=peers,
        groups=groups,
        secret=str(secret) if secret else None,
        tls=tls,
        decision_log=Path(daemon["decision_log"]) if daemon.get("decision_log") else None,
        log_format=log_format,
        log_level=level,
        metrics_bind=parse_address(metrics, f"{source}: daemon.metrics_bind") if metrics else None,
        sentinel_password=daemon.get("sentinel_password") or None,
        source=source,
    )


def _group(source: str, name: str, raw: Any, peer_names: Sequence[str]) -> GroupConfig:
    where = f"{source}: groups.{name}"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where} must be a mapping")
    known = (set(_SETTINGS_FIELDS) | GROUP_RUNTIME_KEYS) - {"group"}
    unknown = set(raw) - known - {"group"}
    if unknown:
        raise _unknown(where, unknown, known)
    nodes_raw = raw.get("nodes")
    if not isinstance(nodes_raw, Mapping) or not nodes_raw:
        raise ConfigError(f"{where}.nodes must map node names to host:port")
    nodes = {str(k): parse_address(v, f"{where}.nodes.{k}") for k, v in nodes_raw.items()}
    if len(set(nodes.values())) != len(nodes):
        raise ConfigError(f"{where}.nodes: two nodes share an address")
    kwargs: dict[str, Any] = {"group": name, "nodes": tuple(nodes)}
    kwargs["voters"] = tuple(peer_names)
    for key, value in raw.items():
        if key in _SETTINGS_FIELDS and key not in ("group", "nodes"):
            if key in ("voters", "next_voters"):
                if not isinstance(value, list | tuple):
                    raise ConfigError(f"{where}.{key} must be a list of daemon names")
                value = tuple(str(v) for v in value)
            elif key in _NUMERIC_SETTINGS:
                value = _number(value, f"{where}.{key}", integer=_NUMERIC_SETTINGS[key] == "int")
            kwargs[key] = value
    try:
        settings = Settings(**kwargs)
    except SettingsError as exc:
        raise ConfigError(f"{source}: {exc}") from None
    except TypeError as exc:
        raise ConfigError(f"{where}: {exc}") from None
    probe_timeout = _number(
        raw.get("probe_timeout", max(0.2, min(1.0, settings.down_after / 2))),
        f"{where}.probe_timeout",
    )
    action_timeout = _number(
        raw.get("action_timeout", GroupConfig.action_timeout), f"{where}.action_timeout"
    )
    if probe_timeout <= 0 or action_timeout <= 0:
        raise ConfigError(f"{where}: probe_timeout and action_timeout must be > 0")
    if probe_timeout >= settings.down_after:
        raise ConfigError(
            f"{where}: probe_timeout ({probe_timeout}) must be < down_after "
            f"({settings.down_after}), or a stalled node is never seen down in time"
        )
    return GroupConfig(
        settings=settings,
        nodes=nodes,
        password=raw.get("password"),
        username=raw.get("username"),
        probe_timeout=probe_timeout,
        action_timeout=action_timeout,
    )
