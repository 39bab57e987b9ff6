"""``gungnir run --kubernetes``: a daemon whose groups, nodes and peers come from the API.

What the DaemonSet gives a daemon (``k8s/base/daemonset.yaml``): ``run --kubernetes
--state-dir=...``, and through the downward API its pod name, namespace, node name and pod
IP, plus ``GUNGNIR_DAEMON_SELECTOR`` (how to find the other daemons).  Its id is the node
name (voters are named by node: a node name survives pod restarts).

The wiring, in one place:

* groups: every valid ``ValkeyGroup`` in the namespace, read once at start-up from the
  watch cache: ``Settings(**backend.settings(g), nodes=<the group's pod names>)``; the core
  works on stable pod names, never on addresses;
* node addresses: each pod's IP and its container port named ``valkey`` (else the group's
  ``spec.port``), followed by the pod watch: a pod that restarts with a new address is
  re-dialled at it (:meth:`GroupRuntime.set_address`) without touching the core;
* peers: the DaemonSet's pods, by node name, at their IP and container port ``peer``
  (default 7480), followed the same way;
* the daemon's ``ConfigPublisher`` is :class:`KubeConfigPublisher` (routing, labels,
  status, all in the background), every core ``Notify`` becomes an Event, the
  ``gungnir.io/switchover`` annotation becomes one core ``Switchover`` on one designated
  daemon, and API failures feed ``gungnir_kubernetes_api_errors_total``.

Nothing here is on the failover path: the core loop only reads caches and queues work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gungnir.core import Config, Settings, SettingsError, Switchover, VotersChanged
from gungnir.runtime.config import DaemonConfig, GroupConfig
from gungnir.runtime.daemon import Daemon, FatalError
from gungnir.runtime.store import StoreError

from . import spec as spec_mod
from .api import KubeApi, error_hook
from .backend import KubeBackend
from .errors import KubeError
from .publisher import KubeConfigPublisher
from .switchover import SwitchoverWatcher

__all__ = [
    "HTTP_PORT",
    "PEER_PORT",
    "KubeRunOptions",
    "KubeWiring",
    "OptionsError",
    "build_config",
    "options_from_env",
    "run_kubernetes",
    "start_kubernetes",
]

log = logging.getLogger("gungnir.kube.run")

Address = tuple[str, int]
PEER_PORT = 7480
HTTP_PORT = 8080
#: Where a node or peer is "until discovery sees it": dialling it fails at once, and the
#: address is replaced as soon as the pod reports an IP.
NOWHERE: Address = ("0.0.0.0", 0)


@dataclass(frozen=True)
class KubeRunOptions:
    """Everything ``run --kubernetes`` needs besides what the API says."""

    node_name: str
    state_dir: Path
    daemon_selector: str
    secret: str | None
    pod_name: str = ""
    namespace: str | None = None
    bind: Address = ("0.0.0.0", PEER_PORT)
    metrics_bind: Address = ("0.0.0.0", HTTP_PORT)
    host: str | None = None
    kubeconfig: str | None = None
    context: str | None = None
    decision_log: Path | None = None
    log_format: str = "text"
    log_level: str = "INFO"
    sentinel_password: str | None = None
    sync_within: float = 30.0
    watch_timeout: int = 60
    #: Where the DaemonSet mounts each group's auth Secret, one directory per Secret name.
    valkey_auth_dir: Path = Path("/etc/gungnir/valkey-auth")


class OptionsError(ValueError):
    """A required setting is missing; the message names the flag or variable."""


def options_from_env(env: Mapping[str, str], **flags: Any) -> KubeRunOptions:
    """Flags win over ``GUNGNIR_*`` variables (the DaemonSet sets the variables)."""
    from gungnir.runtime.config import parse_address

    def pick(flag: str, var: str, default: Any = None) -> Any:
        value = flags.get(flag)
        if value is None or value == "":
            value = env.get(var) or default
        return value

    node = pick("id", "GUNGNIR_NODE_NAME") or env.get("GUNGNIR_ID")
    if not node:
        raise OptionsError("the daemon id is the node name: set GUNGNIR_NODE_NAME (or --id)")
    state_dir = pick("state_dir", "GUNGNIR_STATE_DIR")
    if not state_dir:
        raise OptionsError("--state-dir is required: epoch and vote must survive restarts")
    selector = pick("daemon_selector", "GUNGNIR_DAEMON_SELECTOR")
    if not selector:
        raise OptionsError("GUNGNIR_DAEMON_SELECTOR (the DaemonSet's pod labels) is required")
    secret = flags.get("secret") or env.get("GUNGNIR_SECRET")
    secret_file = pick("secret_file", "GUNGNIR_SECRET_FILE")
    if secret_file:
        try:
            secret = Path(secret_file).read_text().strip()
        except OSError as exc:
            raise OptionsError(f"cannot read secret file {secret_file}: {exc.strerror}") from None
    if not secret or len(secret) < 8:
        raise OptionsError(
            "peers authenticate with a shared secret of at least 8 characters: set "
            "GUNGNIR_SECRET (from a Secret) or --secret-file"
        )
    bind = pick("bind", "GUNGNIR_BIND")
    metrics = pick("metrics_bind", "GUNGNIR_METRICS_BIND")
    log_file = pick("decision_log", "GUNGNIR_DECISION_LOG")
    return KubeRunOptions(
        node_name=str(node),
        state_dir=Path(state_dir),
        daemon_selector=str(selector),
        secret=secret,
        pod_name=str(pick("pod_name", "GUNGNIR_POD_NAME", "")),
        namespace=pick("namespace", "GUNGNIR_NAMESPACE"),
        bind=parse_address(bind, "--bind") if bind else ("0.0.0.0", PEER_PORT),
        metrics_bind=(
            parse_address(metrics, "--metrics-bind") if metrics else ("0.0.0.0", HTTP_PORT)
        ),
        host=flags.get("kube_host"),
        kubeconfig=flags.get("kubeconfig"),
        context=flags.get("kube_context"),
        decision_log=Path(log_file) if log_file else None,
        log_format=str(pick("log_format", "GUNGNIR_LOG_FORMAT", "text")),
        log_level=str(pick("log_level", "GUNGNIR_LOG_LEVEL", "INFO")).upper(),
        sentinel_password=pick("sentinel_password", "GUNGNIR_SENTINEL_PASSWORD"),
        valkey_auth_dir=Path(
            pick("valkey_auth_dir", "GUNGNIR_VALKEY_AUTH_DIR", "/etc/gungnir/valkey-auth")
        ),
    )


# -- addresses from pods --------------------------------------------------------------------


def container_port(pod: Mapping[str, Any], name: str) -> int | None:
    """The port of the pod's container port called ``name``, if it declares one."""
    for c in (pod.get("spec") or {}).get("containers") or []:
        for p in c.get("ports") or []:
            if p.get("name") == name and isinstance(p.get("containerPort"), int):
                return int(p["containerPort"])
    return None


def _running_ip(pod: Mapping[str, Any]) -> str | None:
    status = pod.get("status") or {}
    meta = pod.get("metadata") or {}
    if status.get("phase") != "Running" or meta.get("deletionTimestamp"):
        return None
    ip = status.get("podIP")
    return str(ip) if ip else None


def node_addresses(backend: KubeBackend, group: str) -> dict[str, Address]:
    """Pod name -> (pod IP, its ``valkey`` port or the group's port); pods with no IP yet
    are :data:`NOWHERE`."""
    st = backend.state[group]
    default = int(st.options["port"])
    objects = st.pods.informer.objects if st.pods is not None else {}
    out = {}
    for name, obj in objects.items():
        ip = _running_ip(obj)
        out[name] = (ip, container_port(obj, "valkey") or default) if ip else NOWHERE
    return out


def daemon_addresses(backend: KubeBackend) -> dict[str, Address]:
    """Daemon id (node name, else pod name) -> (pod IP, its ``peer`` port or 7480)."""
    out = {}
    for obj in backend.daemons.informer.objects.values():
        ip = _running_ip(obj)
        if ip is None:
            continue
        name = (obj.get("spec") or {}).get("nodeName") or obj["metadata"]["name"]
        out[str(name)] = (ip, container_port(obj, "peer") or PEER_PORT)
    return out


def peer_addresses(backend: KubeBackend, voters: set[str]) -> dict[str, Address]:
    """Every daemon (voters as the groups name them, observers by node name)."""
    found = daemon_addresses(backend)
    pod_names = {
        o["metadata"]["name"]: (o.get("spec") or {}).get("nodeName") or o["metadata"]["name"]
        for o in backend.daemons.informer.objects.values()
    }
    out = dict(found)
    for v in voters:
        key = v if v in found else pod_names.get(v)
        out[v] = found.get(key, NOWHERE) if key is not None else NOWHERE
        if key is not None and key != v:
            out.pop(key, None)  # a voter named by pod name: one peer, under that name
    return out


# -- configuration --------------------------------------------------------------------------


class CredentialsError(ValueError):
    """A group names an auth Secret whose daemon password is not mounted."""


def group_credentials(secret: str | None, auth_dir: Path | None) -> tuple[str | None, str | None]:
    """(username, password) the daemon logs in to a group's Valkey nodes with.

    A group without ``authSecretRef`` gets none.  One with it gets the ``gungnir`` ACL user
    and the ``daemon-password`` key of that Secret, mounted by the DaemonSet at
    ``<auth_dir>/<secret>/daemon-password``.  A missing file is an error rather than a run
    without credentials: every probe would then end in NOAUTH and the daemon would report a
    healthy group as unreachable.
    """
    if secret is None:
        return None, None
    where = (auth_dir or Path("/etc/gungnir/valkey-auth")) / secret / "daemon-password"
    try:
        password = where.read_text().strip()
    except OSError as exc:
        raise CredentialsError(
            f"authSecretRef {secret}: cannot read {where} ({exc.strerror}); mount the "
            f"Secret's daemon-password key there (docs/kubernetes.md, Valkey users)"
        ) from None
    if not password:
        raise CredentialsError(f"authSecretRef {secret}: {where} is empty")
    return spec_mod.DAEMON_USER, password


def group_configs(backend: KubeBackend, auth_dir: Path | None = None) -> dict[str, GroupConfig]:
    """The valid ValkeyGroups as the runtime's group configs (an invalid one is reported on
    the resource by the backend and skipped here)."""
    out = {}
    for name in sorted(backend.groups()):
        problems = backend.problems(name)
        if problems:
            log.error("group %s not run: %s", name, "; ".join(problems))
            continue
        pods = tuple(sorted(backend.pods(name)))
        if not pods:
            log.error("group %s not run: no pod matches its selector yet", name)
            continue
        spec_settings = backend.settings(name)
        boot = spec_mod.bootstrap_voters(backend.state[name].obj, spec_settings)
        desired = spec_mod.desired_voters(spec_settings)
        voters = {
            "voters": boot or desired,
            "next_voters": desired if set(desired) != set(boot or desired) else (),
        }
        try:
            settings = Settings(**{**spec_settings, **voters}, nodes=pods)
        except (SettingsError, TypeError) as exc:
            log.error("group %s not run: %s", name, exc)
            continue
        try:
            username, password = group_credentials(
                backend.state[name].options.get("auth_secret"), auth_dir
            )
        except CredentialsError as exc:
            log.error("group %s not run: %s", name, exc)
            continue
        probe_timeout = max(0.2, min(1.0, settings.down_after / 2))
        out[name] = GroupConfig(
            settings=settings,
            nodes=node_addresses(backend, name),
            probe_timeout=probe_timeout,
            username=username,
            password=password,
        )
    return out


def build_config(backend: KubeBackend, opts: KubeRunOptions) -> DaemonConfig:
    """The daemon's configuration as the API describes it right now."""
    groups = group_configs(backend, opts.valkey_auth_dir)
    voters = {v for g in groups.values() for v in (*g.settings.voters, *g.settings.next_voters)}
    peers = peer_addresses(backend, voters)
    me = opts.node_name
    if opts.pod_name and opts.pod_name in voters:
        me = opts.pod_name  # voters named by daemon pod name
    peers[me] = opts.bind
    return DaemonConfig(
        id=me,
        bind=opts.bind,
        state_dir=opts.state_dir,
        peers=peers,
        groups=groups,
        secret=opts.secret,
        decision_log=opts.decision_log,
        log_format=opts.log_format,
        log_level=opts.log_level,
        metrics_bind=opts.metrics_bind,
        sentinel_password=opts.sentinel_password,
        source="kubernetes",
        namespace=backend.api.namespace,
    )


# -- wiring a running daemon to the backend -----------------------------------------------


class KubeWiring:
    """Connects a :class:`Daemon` to a :class:`KubeBackend` (see the module docstring)."""

    def __init__(
        self, daemon: Daemon, backend: KubeBackend, publisher: KubeConfigPublisher
    ) -> None:
        self.daemon = daemon
        self.backend = backend
        self.publisher = publisher
        self.watcher = SwitchoverWatcher(backend, self._switchover, self.designated)
        self._warned: set[tuple[str, str]] = set()
        self._forbidden: set[tuple[str, str]] = set()
        self._count_errors = error_hook(daemon.metrics.kube_api_error)

    @classmethod
    def create(cls, config: DaemonConfig, backend: KubeBackend, **daemon_kwargs: Any) -> KubeWiring:
        """A daemon for ``config`` with every Kubernetes hook installed."""
        publisher = KubeConfigPublisher(backend)
        holder: list[KubeWiring] = []
        daemon = Daemon(
            config,
            publisher=publisher,
            on_notify=lambda g, e, d: holder[0].notify(g, e, d),
            on_config=lambda g, c: holder[0].on_config(g, c),
            **daemon_kwargs,
        )
        wiring = cls(daemon, backend, publisher)
        holder.append(wiring)
        return wiring

    async def start(self) -> None:
        """Install the hooks, start the daemon, then follow the API."""
        self.backend.api.stats.hook = self._api_outcome
        self.backend.subscribe(self._changed)
        await self.daemon.start()
        self.follow_addresses()
        self.watcher.start()
        # A request made before this daemon started is acted on now, not at the next edit.
        self.watcher._wake.set()

    async def stop(self) -> None:
        await self.watcher.close()
        await self.daemon.stop()
        await self.publisher.close()
        await self.backend.close()

    # -- hooks -----------------------------------------------------------------------------

    def notify(self, group: str, event: str, detail: str) -> None:
        """A core ``Notify`` as an Event (queued; never waits on the API)."""
        self.publisher.notify(group, event, detail)

    def on_config(self, group: str, config: Config) -> None:
        """Every config this daemon's core holds goes to the publisher, which reconciles
        routing, labels and status from the highest one whatever daemon led it (the API's
        epoch checks and :mod:`gungnir.kube.authority` keep an older one from writing)."""
        self.publisher.adopt(group, config)

    def _api_outcome(self, verb: str, resource: str, outcome: str, code: int | str | None) -> None:
        """Every API outcome: failures to ``gungnir_kubernetes_api_errors_total``, and a
        refused permission to the log once per (verb, resource), in words that say what to
        fix."""
        self._count_errors(verb, resource, outcome, code)
        if outcome == "forbidden" and (verb, resource) not in self._forbidden:
            self._forbidden.add((verb, resource))
            log.error(
                "Kubernetes API refused %s %s (%s): the ServiceAccount lacks this permission; "
                "fix the Role (k8s/base/rbac.yaml). Failover goes on; this part of the "
                "Kubernetes integration is stuck until then.",
                verb,
                resource,
                code,
            )

    # -- switchover --------------------------------------------------------------------------

    def designated(self, group: str) -> bool:
        """The one daemon that acts on a switchover request: the leader recorded in the
        group's status if it is a voter this daemon sees up (or is this daemon), else the
        first voter by name among those this daemon sees up."""
        rt = self.daemon.groups.get(group)
        if rt is None or not rt.state.is_voter:
            return False
        me = self.daemon.config.id

        def up(name: str) -> bool:
            link = self.daemon.links.get(name)
            return name == me or (link is not None and link.up)

        st = self.backend.state.get(group)
        status = (st.obj.get("status") or {}) if st is not None else {}
        voters = sorted(rt.state.settings.voters)  # the committed set, after voter changes too
        leader = status.get("leader")
        if leader in voters and up(leader):
            return bool(leader == me)
        live = [v for v in voters if up(v)]
        return bool(live) and live[0] == me

    def _switchover(self, group: str, target: str | None) -> None:
        if group not in self.daemon.groups:
            log.warning("switchover of %s requested, but this daemon does not run it", group)
            return
        log.info("switchover of %s to %s requested through the API", group, target or "any")
        self.daemon.submit(group, Switchover(target=target))

    # -- following addresses -------------------------------------------------------------

    def _changed(self, group: str, what: str) -> None:
        if what == "group":
            self.follow_voters(group)
        if what in ("pods", "peers", "group"):
            self.follow_addresses()

    def follow_voters(self, group: str) -> None:
        """An edit of the group's voters reaches the running core as VotersChanged (no
        restart): the core enters joint consensus and the next election commits the set."""
        rt = self.daemon.groups.get(group)
        st = self.backend.state.get(group)
        if rt is None or st is None or st.problems:
            return  # a bad edit keeps the last good settings (reported on the resource)
        desired = spec_mod.desired_voters(st.settings)
        if desired and desired != rt.desired:
            log.info("group %s: voters %s asked for", group, ", ".join(desired))
            rt.desired = desired
            self.daemon.submit(group, VotersChanged(desired))

    def follow_addresses(self) -> None:
        """Move nodes and peers to the addresses the watches report now."""
        d = self.daemon
        for name, rt in d.groups.items():
            if name not in self.backend.state:
                continue
            for node, addr in node_addresses(self.backend, name).items():
                if node in rt.cfg.nodes:
                    if addr != NOWHERE:  # no IP (restarting): keep dialling the last one
                        rt.set_address(node, addr)
                elif (name, node) not in self._warned:
                    self._warned.add((name, node))
                    log.warning(
                        "pod %s joined group %s; the node set is fixed while the daemon runs: "
                        "restart the daemons to add it",
                        node,
                        name,
                    )
        # every voter of the live views and of the sets asked for: a removed voter keeps its
        # link (it is an observer now), a new one gets one
        voters = set()
        for rt in d.groups.values():
            s = rt.state.settings
            voters |= {*rt.settings.voters, *s.voters, *s.next_voters, *rt.desired}
        for peer, addr in peer_addresses(self.backend, voters).items():
            link = d.links.get(peer)
            if link is None and peer in voters and addr != NOWHERE and peer != d.config.id:
                log.info("voter %s: opening a peer link to %s:%d", peer, *addr)
                d.add_peer(peer, addr)
                continue
            if link is None:
                if peer != d.config.id and ("*", peer) not in self._warned:
                    self._warned.add(("*", peer))
                    log.warning("daemon %s appeared; restart to add it as an observer", peer)
                continue
            if addr != NOWHERE and link.address != addr:
                log.info("peer %s moved to %s:%d", peer, *addr)
                link.address = addr


# -- the process ----------------------------------------------------------------------------


async def wait_for_groups(backend: KubeBackend, every: float = 10.0) -> None:
    """Block until at least one valid ValkeyGroup with pods exists (logging while not)."""
    while True:
        if any(not backend.problems(g) and backend.pods(g) for g in backend.groups()):
            return
        log.warning("no valid ValkeyGroup with pods in namespace %s yet", backend.api.namespace)
        await asyncio.sleep(every)  # a re-check period, not a stand-in for a condition


async def start_kubernetes(opts: KubeRunOptions, **daemon_kwargs: Any) -> KubeWiring:
    """Connect to the API, read the groups, start a wired daemon (tests call this too)."""
    api = KubeApi(
        opts.host, kubeconfig=opts.kubeconfig, context=opts.context, namespace=opts.namespace
    )
    backend = KubeBackend(
        api,
        identity=opts.node_name,
        daemon_selector=opts.daemon_selector,
        node=opts.node_name,
        watch_timeout=opts.watch_timeout,
    )
    try:
        await backend.start(opts.sync_within)
        await wait_for_groups(backend)
        config = build_config(backend, opts)
        # The name peers and the status know this daemon by (the node name, or the pod
        # name when the voters are named by pod): the leader annotation and the status's
        # leader must be comparable with the voter names.
        backend.identity = backend.events.instance = config.id
        wiring = KubeWiring.create(config, backend, **daemon_kwargs)
        await wiring.start()
    except BaseException:
        await backend.close()
        raise
    return wiring


async def run_kubernetes(opts: KubeRunOptions) -> int:
    """``gungnir run --kubernetes``: serve until SIGTERM/SIGINT."""
    try:
        wiring = await start_kubernetes(opts)
    except (KubeError, TimeoutError) as exc:
        log.critical("cannot read the groups from the Kubernetes API: %s", exc)
        return 2
    except StoreError as exc:
        log.critical("%s", exc)
        return 3
    except OSError as exc:
        log.critical("cannot listen on %s:%d: %s", *opts.bind, exc.strerror or exc)
        return 2
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    serve = loop.create_task(wiring.daemon.serve_forever())
    stop = loop.create_task(stopping.wait())
    await asyncio.wait({serve, stop}, return_when=asyncio.FIRST_COMPLETED)
    code = 0
    failure = serve.exception() if serve.done() else None
    if failure is not None:
        log.critical("fatal: %s", failure)
        code = 4 if isinstance(failure, FatalError) else 1
    stop.cancel()
    with contextlib.suppress(Exception):
        await wiring.stop()
    serve.cancel()
    with contextlib.suppress(asyncio.CancelledError, Exception):
        await serve
    return code
