"""The daemon's command-line entry points: ``gungnir run``, ``status``, ``history``, ``failover``.

``status``, ``history`` and ``failover`` talk to a running daemon over its RESP endpoint
(``GUNGNIR.STATUS``, ``GUNGNIR.FAILOVER``), so they work the same against a local process, a
pod (``kubectl port-forward``) or a daemon in a network namespace.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

__all__ = ["add_parsers"]

Address = tuple[str, int]


def _flags(args: argparse.Namespace) -> dict[str, Any]:
    keys = (
        "id",
        "bind",
        "state_dir",
        "secret_file",
        "decision_log",
        "log_format",
        "log_level",
        "metrics_bind",
    )
    return {k: getattr(args, k) for k in keys if getattr(args, k, None) is not None}


def _kube_flags(args: argparse.Namespace) -> dict[str, Any]:
    keys = ("kube_host", "kubeconfig", "kube_context", "namespace")
    return {k: getattr(args, k, None) for k in keys}


def cmd_run_kubernetes(args: argparse.Namespace) -> int:
    """``run --kubernetes``: groups, nodes and peers from the API (in-cluster by default)."""
    import os

    from gungnir.client import run
    from gungnir.kube.run import OptionsError, options_from_env, run_kubernetes

    from .config import ConfigError
    from .logs import setup_logging

    try:
        opts = options_from_env(
            os.environ,
            **_flags(args),
            **_kube_flags(args),
            daemon_selector=args.daemon_selector,
        )
    except (OptionsError, ConfigError) as exc:
        print(f"gungnir run: {exc}", file=sys.stderr)
        return 2
    setup_logging(opts.log_format, opts.log_level)
    return run(run_kubernetes(opts))


def cmd_run(args: argparse.Namespace) -> int:
    from gungnir.client import run

    from .config import ConfigError, load
    from .daemon import run_daemon
    from .logs import setup_logging

    if args.kubernetes:
        if args.config:
            print("gungnir run: --kubernetes and --config exclude each other", file=sys.stderr)
            return 2
        return cmd_run_kubernetes(args)
    if not args.config:
        print("gungnir run: --config FILE (or --kubernetes) is required", file=sys.stderr)
        return 2
    try:
        cfg = load(args.config, overrides=_flags(args))
    except ConfigError as exc:
        print(f"gungnir run: {exc}", file=sys.stderr)
        return 2
    setup_logging(cfg.log_format, cfg.log_level)
    # SIGHUP re-reads the file: a voter change applies live (docs/voter-changes.md)
    return run(run_daemon(cfg, lambda: load(args.config, overrides=_flags(args))))  # on uvloop


def _target(args: argparse.Namespace) -> Address:
    from .config import ConfigError, load, parse_address

    if args.address:
        return parse_address(args.address, "--address")
    if args.config:
        try:
            cfg = load(args.config)
        except ConfigError as exc:
            raise SystemExit(f"gungnir: {exc}") from None
        host, port = cfg.bind
        return ("127.0.0.1" if host in ("0.0.0.0", "::", "") else host), port
    return ("127.0.0.1", 26379)


async def _call(addr: Address, password: str | None, *cmd: Any) -> Any:
    from gungnir.client import connect

    conn = await connect(*addr, password=password, connect_timeout=3.0, command_timeout=5.0)
    try:
        return await conn.execute(*cmd)
    finally:
        conn.close()


def _status(addr: Address, password: str | None) -> dict[str, Any]:
    from gungnir.client import run

    raw = run(_call(addr, password, "GUNGNIR.STATUS"))
    result: dict[str, Any] = json.loads(raw)
    return result


def render_status(st: dict[str, Any], colour: bool = False) -> str:
    """The human table of ``gungnir status`` (see :mod:`gungnir.runtime.render`)."""
    from .render import render_status as render

    return render(st, colour)


def cmd_status(args: argparse.Namespace) -> int:
    addr = _target(args)
    try:
        st = _status(addr, args.password)
    except Exception as exc:
        print(f"gungnir status: cannot ask {addr[0]}:{addr[1]}: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(st, indent=2))
    else:
        from .render import use_colour

        print(render_status(st, colour=use_colour(sys.stdout)))
    return 0


def cmd_failover_kubernetes(args: argparse.Namespace) -> int:
    """Write the ValkeyGroup's switchover annotation; the designated daemon acts on it."""
    import asyncio

    from gungnir.kube.api import KubeApi
    from gungnir.kube.errors import KubeError
    from gungnir.kube.groups import get_group, request_switchover

    flags = _kube_flags(args)

    async def main() -> int:
        api = KubeApi(
            flags["kube_host"],
            kubeconfig=flags["kubeconfig"],
            context=flags["kube_context"],
            namespace=flags["namespace"],
        )
        try:
            before = (await get_group(api, args.group)).get("status") or {}
            if args.to is not None and args.to == before.get("primary"):
                # the daemons refuse it too (core.switchover); say so before writing anything
                print(
                    f"gungnir failover: {args.to} is already the primary of {args.group} "
                    f"(epoch {before.get('epoch')}): nothing to switch over",
                    file=sys.stderr,
                )
                return 1
            await request_switchover(api, args.group, args.to or "any")
            print(
                f"switchover of {args.group} requested (primary {before.get('primary')}, "
                f"epoch {before.get('epoch')})"
            )
            if args.no_wait:
                return 0
            deadline = time.monotonic() + args.wait
            while time.monotonic() < deadline:
                st = (await get_group(api, args.group)).get("status") or {}
                if (
                    st.get("epoch", -1) > before.get("epoch", -1)
                    and st.get("primary") != before.get("primary")
                    and (args.to is None or st.get("primary") == args.to)
                ):
                    print(f"done: primary {st['primary']} at epoch {st['epoch']}")
                    return 0
                await asyncio.sleep(0.2)  # polling period of the condition, with a deadline
            print(f"gungnir failover: no new primary within {args.wait:g}s", file=sys.stderr)
            return 1
        except KubeError as exc:
            print(f"gungnir failover: {exc}", file=sys.stderr)
            return 1
        finally:
            api.close()

    return asyncio.run(main())


def cmd_failover(args: argparse.Namespace) -> int:
    from gungnir.client import run

    if args.kubernetes:
        return cmd_failover_kubernetes(args)
    addr = _target(args)
    try:
        before = _group(_status(addr, args.password), args.group)
        cmd = ["GUNGNIR.FAILOVER", args.group]
        if args.to or args.use_failover_command:
            cmd.append(args.to or "")
        if args.use_failover_command:
            cmd.append("USE-FAILOVER-COMMAND")
        run(_call(addr, args.password, *cmd))
    except Exception as exc:
        print(f"gungnir failover: {exc}", file=sys.stderr)
        return 1
    print(
        f"switchover of {args.group} requested (primary {before['primary']}, "
        f"epoch {before['config_epoch']})"
    )
    if args.no_wait:
        return 0
    deadline = time.monotonic() + args.wait
    while time.monotonic() < deadline:
        try:
            g = _group(_status(addr, args.password), args.group)
        except Exception:
            g = None
        if (
            g is not None
            and g["config_epoch"] > before["config_epoch"]
            and g["primary"] != before["primary"]
            and (args.to is None or g["primary"] == args.to)
        ):
            print(f"done: primary {g['primary']} at epoch {g['config_epoch']}")
            return 0
        time.sleep(0.1)  # polling period of the condition above, with a deadline
    print(f"gungnir failover: no new primary within {args.wait:g}s", file=sys.stderr)
    return 1


def _history_records(args: argparse.Namespace) -> tuple[list[dict[str, Any]], list[str]]:
    """Records and where they came from: the given log files, else the running daemon and,
    unless ``--no-peers``, every peer it names (a daemon that missed an epoch, or only
    voted in it, does not hold its story: the leader does)."""
    from .history import anchor, read_log

    if args.log:
        records: list[dict[str, Any]] = []
        for path in args.log:
            records += read_log(path)
        return records, list(args.log)
    from gungnir.client import run

    from .config import parse_address

    addr = _target(args)
    reply = json.loads(run(_call(addr, args.password, *_history_cmd(args))))
    records = anchor(reply["records"], reply["wall"], reply["now"])
    sources = [f"daemon {reply['daemon']} at {addr[0]}:{addr[1]}"]
    for name, where in ({} if args.no_peers else reply.get("peers", {})).items():
        try:
            peer = parse_address(where, f"peer {name}")
            more = json.loads(run(_call(peer, args.password, *_history_cmd(args))))
        except Exception as exc:  # one silent peer must not hide the others' story
            sources.append(f"daemon {name} at {where} NOT REACHED ({exc or type(exc).__name__})")
            continue
        records += anchor(more["records"], more["wall"], more["now"])
        sources.append(f"daemon {more['daemon']} at {where}")
    return records, sources


def _history_cmd(args: argparse.Namespace) -> list[str]:
    return ["GUNGNIR.HISTORY", args.group, str(args.records)]


def cmd_history(args: argparse.Namespace) -> int:
    from .history import HistoryError, failovers, render

    try:
        records, sources = _history_records(args)
    except HistoryError as exc:
        print(f"gungnir history: {exc}", file=sys.stderr)
        return 1
    except SystemExit:
        raise
    except Exception as exc:
        print(f"gungnir history: cannot ask the daemon: {exc}", file=sys.stderr)
        return 1
    stories = failovers(records, args.group)[-args.last :] if args.last > 0 else []
    if args.json:
        doc = {"group": args.group, "sources": sources, "failovers": [f.to_json() for f in stories]}
        print(json.dumps(doc, indent=2))
    else:
        print(render(stories, args.group, sources))
    return 0


def _group(st: dict[str, Any], name: str) -> dict[str, Any]:
    for g in st["groups"]:
        if g["group"] == name:
            return dict(g)
    raise SystemExit(f"gungnir: daemon {st['daemon']} has no group {name!r}")


def add_parsers(sub: Any) -> None:
    """Add ``run``, ``status``, ``history`` and ``failover`` to the CLI's subparsers."""

    def kube(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--kubernetes",
            action="store_true",
            help="use the Kubernetes API (in-cluster config unless --kube-host/--kubeconfig)",
        )
        p.add_argument("--kube-host", help="API server URL (tests, kubectl proxy)")
        p.add_argument("--kubeconfig", help="kubeconfig file instead of in-cluster config")
        p.add_argument("--kube-context", help="context in the kubeconfig")
        p.add_argument("--namespace", help="namespace (default: the pod's, GUNGNIR_NAMESPACE)")

    run_p = sub.add_parser("run", help="run a daemon from a configuration file or Kubernetes")
    run_p.add_argument("--config", "-c", help="YAML or TOML file")
    kube(run_p)
    run_p.add_argument(
        "--daemon-selector", help="label selector of the daemon pods (GUNGNIR_DAEMON_SELECTOR)"
    )
    for flag, help_text in (
        ("--id", "this daemon's name (overrides the file and GUNGNIR_ID)"),
        ("--bind", "host:port of the RESP endpoint"),
        ("--state-dir", "directory of the durable epoch and vote"),
        ("--secret-file", "file holding the peers' shared secret"),
        ("--decision-log", "JSON-lines decision log path"),
        ("--log-format", "text or json"),
        ("--log-level", "DEBUG, INFO, WARNING or ERROR"),
        ("--metrics-bind", "host:port of /metrics, /healthz, /readyz"),
    ):
        run_p.add_argument(flag, help=help_text)
    run_p.set_defaults(func=cmd_run)

    def target(p: argparse.ArgumentParser) -> None:
        p.add_argument("--address", "-a", help="host:port of a daemon (default 127.0.0.1:26379)")
        p.add_argument("--config", "-c", help="take the address from this daemon's config")
        p.add_argument("--password", help="the daemon's sentinel_password, if set")

    st = sub.add_parser("status", help="ask a running daemon for groups, primaries, peers")
    target(st)
    st.add_argument("--json", action="store_true", help="print JSON")
    st.set_defaults(func=cmd_status)

    hi = sub.add_parser(
        "history", help="the story of a group's last failovers, from the decision log"
    )
    hi.add_argument("group")
    hi.add_argument(
        "--log",
        action="append",
        metavar="FILE",
        help="read this decision log instead of asking the daemon (repeat to merge daemons)",
    )
    hi.add_argument("--last", type=int, default=5, help="how many failovers (default 5)")
    hi.add_argument(
        "--records", type=int, default=2000, help="decision records to ask the daemon for"
    )
    hi.add_argument("--json", action="store_true", help="print JSON")
    hi.add_argument(
        "--no-peers", action="store_true", help="ask only this daemon, not the peers it names"
    )
    target(hi)
    hi.set_defaults(func=cmd_history)

    fo = sub.add_parser("failover", help="manual switchover that loses no acknowledged write")
    fo.add_argument("group")
    fo.add_argument("--to", help="the replica to promote (default: the best one)")
    fo.add_argument(
        "--use-failover-command", action="store_true", help="use Valkey's FAILOVER command"
    )
    fo.add_argument("--wait", type=float, default=30.0, help="seconds to wait for the result")
    fo.add_argument("--no-wait", action="store_true", help="return once requested")
    target(fo)
    kube(fo)
    fo.set_defaults(func=cmd_failover)
