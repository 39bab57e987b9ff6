"""Who the daemons of a migrated Sentinel deployment are, for ``gungnir migrate-sentinel``.

Why apart from the settings: this is where design rule 9 meets Sentinel's files.  Sentinel
learns its peers by gossip and writes them down as ``known-sentinel`` lines by IP, stale
ones included; gungnir's voters are a fixed set of *named* daemons.  So the names come from
the command line (inputs in order, ``--name``, ``--peer``, ``--add-daemon``), and the gossip
only cross-checks them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gungnir.sentinelconf import Address, MigrateError, SentinelConf, fmt_address

__all__ = ["name_daemons", "own_addresses", "refuse_shared_nodes", "stray_sentinels"]


def own_addresses(confs: Sequence[SentinelConf], given: Sequence[Address | None]) -> list[Address]:
    selves: list[Address] = []
    for i, conf in enumerate(confs):
        addr = given[i] if i < len(given) and given[i] else conf.address()
        if addr is None:
            raise MigrateError(
                f"{conf.path}: cannot tell this Sentinel's own address (no 'sentinel "
                f"announce-ip', bind is {' '.join(conf.bind) or 'unset'}); pass --address "
                "HOST:PORT for it"
            )
        if addr in selves:
            raise MigrateError(f"{conf.path}: two inputs are the same Sentinel {fmt_address(addr)}")
        selves.append(addr)
    return selves


def name_daemons(
    confs: Sequence[SentinelConf],
    selves: Sequence[Address],
    names: Sequence[str | None],
    peers: Mapping[str, Address],
    add_daemons: Mapping[str, Address],
) -> dict[str, Address]:
    """Every daemon of the migrated deployment, by name: the inputs (``--name``, else the
    first free ``dN`` in input order), then ``--peer`` and ``--add-daemon``."""
    taken = {n for n in names if n} | set(peers) | set(add_daemons)
    out: dict[str, Address] = {}
    auto = (f"d{i}" for i in range(1, 10_000) if f"d{i}" not in taken)
    for i, (conf, addr) in enumerate(zip(confs, selves, strict=True)):
        given = names[i] if i < len(names) else None
        name = given if given else next(auto)
        if name in out:
            raise MigrateError(f"{conf.path}: daemon name {name!r} is given twice")
        out[name] = addr
    for name, addr in [*peers.items(), *add_daemons.items()]:
        if name in out:
            raise MigrateError(f"daemon name {name!r} is given twice")
        out[name] = addr
    seen: dict[Address, str] = {}
    for name, addr in out.items():
        if addr in seen:
            raise MigrateError(
                f"daemons {seen[addr]} and {name} have the same address {fmt_address(addr)}"
            )
        seen[addr] = name
    return out


def stray_sentinels(confs: Sequence[SentinelConf], by_addr: Mapping[Address, str]) -> list[str]:
    """known-sentinel lines naming an address no daemon has: not voters (Sentinel never
    forgets a Sentinel without SENTINEL RESET, so stale ones are common), but said loudly."""
    stray: dict[Address, set[str]] = {}
    for conf in confs:
        for mon in conf.monitors.values():
            for addr in mon.sentinels:
                if addr not in by_addr:
                    stray.setdefault(addr, set()).add(conf.path)
    return [
        f"WARNING: known-sentinel {fmt_address(a)} (in {', '.join(sorted(files))}) is not a "
        "daemon of this migration and does not vote. If that Sentinel is live, give its "
        "file too, or name it with --peer NAME=HOST:PORT; if it is gone, nothing to do."
        for a, files in sorted(stray.items())
    ]


def refuse_shared_nodes(group_docs: Mapping[str, tuple[dict[str, Any], list[str]]]) -> None:
    """Two monitors of the same nodes would be two gungnir groups deciding alone on the
    same servers: a switchover of one leaves the other naming the old primary (and its
    clients getting READONLY).  Refused, not merged: which name clients use is the
    operator's choice."""
    owner: dict[str, str] = {}
    for group, (doc, _) in group_docs.items():
        for addr in doc["nodes"].values():
            other = owner.setdefault(addr, group)
            if other != group:
                raise MigrateError(
                    f"groups {other!r} and {group!r} watch the same node {addr}: gungnir "
                    "runs one group per set of nodes, and two would each fail over and route "
                    "alone. Keep one 'sentinel monitor' for these nodes (remove the other "
                    "from the files) and point its clients at the kept name."
                )
