"""``gungnir status`` for people: aligned tables, colour only where it helps and is wanted.

Colour marks what needs attention at 3 a.m. — a DOWN node or peer, a DEGRADED group, a
failover in progress — and the primary.  It is used only on a terminal and never when
``NO_COLOR`` is set (https://no-color.org) or ``TERM=dumb``; ``--json`` is the interface for
scripts and is never coloured.  Alignment is computed on the plain text, so coloured and
plain output line up the same.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import IO, Any

__all__ = ["Cell", "last_failover", "render_status", "table", "use_colour"]

_CODES = {"red": "31", "green": "32", "yellow": "33", "cyan": "36", "bold": "1", "dim": "2"}

#: A table cell: plain text and an optional style (``"red"``, ``"bold green"``, ...).
Cell = tuple[str, str | None]


def use_colour(stream: IO[str], env: Mapping[str, str] | None = None) -> bool:
    """Colour on a terminal unless ``NO_COLOR`` (any non-empty value) or ``TERM=dumb``."""
    env = os.environ if env is None else env
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, style: str | None, colour: bool) -> str:
    if not colour or not style or not text:
        return text
    codes = ";".join(_CODES[s] for s in style.split())
    return f"\x1b[{codes}m{text}\x1b[0m"


def table(
    headers: Sequence[str], rows: Sequence[Sequence[Cell]], colour: bool, indent: str = ""
) -> list[str]:
    """Left-aligned columns two spaces apart; numbers (``right`` columns) right-aligned."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, (text, _) in enumerate(row):
            widths[i] = max(widths[i], len(text))
    numbers = ("OFFSET", "BEHIND", "LAG", "EPOCH", "MY EPOCH")
    right = {i for i, h in enumerate(headers) if h in numbers}

    def line(cells: Sequence[Cell]) -> str:
        out = []
        for i, (text, style) in enumerate(cells):
            pad = " " * (widths[i] - len(text))
            out.append(pad + paint(text, style, colour) if i in right else
                       paint(text, style, colour) + pad)  # fmt: skip
        return (indent + "  ".join(out)).rstrip()

    return [line([(h, "bold") for h in headers]), *(line(r) for r in rows)]


def _node_rows(g: Mapping[str, Any]) -> list[list[Cell]]:
    primary_offset = next(
        (n["offset"] for n in g["nodes"] if n["node"] == g["primary"] and n["reachable"]), None
    )
    rows: list[list[Cell]] = []
    for n in g["nodes"]:
        role = n["role"] or "?"
        if role in ("master", "primary"):
            role = "primary"
        if role == "replica" and n.get("master"):
            role += f" of {n['master']}"
        is_primary = n["node"] == g["primary"]
        if not n["reachable"]:
            role = f"(was {role})"  # its last answer, before it went silent
        behind = "-"
        if not is_primary and primary_offset is not None and n["reachable"]:
            behind = str(max(0, primary_offset - n["offset"]))
        lag = "-"
        if n.get("lag_seconds") is not None:  # a reachable replica: INFO's lag, in seconds
            lag = f"{n['lag_seconds']:.1f}s" if n.get("link_up") else "link down"
        if n["reachable"]:
            state: Cell = ("up", "green")
        else:
            state = (f"DOWN {n['last_ok_age']:.1f}s", "bold red")
        if n["node"] in g.get("sdown", ()):
            state = (state[0] + " (sdown)", "bold red")
        writes = {True: "yes", False: "no"}.get(n.get("accepts_writes"), "?")
        if not n["reachable"]:
            writes = "-"
        rows.append(
            [
                (("* " if is_primary else "  ") + n["node"], "bold cyan" if is_primary else None),
                (n["address"], None),
                (role, "cyan" if role == "primary" else None),
                (str(n["offset"]), None),
                (behind, "yellow" if behind not in ("-", "0") else None),
                (lag, "bold red" if lag == "link down" else None),
                (writes, None),
                state,
            ]
        )
    return rows


def last_failover(fo: Mapping[str, Any], now: float | None = None) -> str:
    """``epoch 3 at 2026-12-06 03:32:54Z (2m ago): node-0 -> node-1, led by d1, because
    operator switchover to node-1`` from a status snapshot's ``last_failover``."""
    text = f"epoch {fo['epoch']}"
    if fo.get("at") is not None:
        when = datetime.fromtimestamp(fo["at"], UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        ago = max(0.0, (time.time() if now is None else now) - fo["at"])
        text += f" at {when} ({_ago(ago)} ago)"
    text += f": {fo['old'] or '?'} -> {fo['new']}"
    if fo.get("leader"):
        text += f", led by {fo['leader']}"
    if fo.get("reason"):
        text += f", because {fo['reason']}"
    elif fo.get("outcome", "").startswith("not in"):
        text += f" ({fo['outcome']})"
    return text


def _ago(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    return f"{seconds / 3600:.1f}h"


def render_status(st: Mapping[str, Any], colour: bool = False) -> str:
    """The human view of a ``GUNGNIR.STATUS`` snapshot: one header line, a group table, and
    a node table per group (``*`` marks the primary)."""
    peers = []
    for name, p in st["peers"].items():
        peers.append(paint(f"{name} up", "green", colour) if p["up"] else
                     paint(f"{name} DOWN", "bold red", colour))  # fmt: skip
    refused = st["refused_peers"]
    head = [
        paint(f"daemon {st['daemon']}", "bold", colour),
        f"up {st['uptime']:.0f}s",
        "peers " + (", ".join(peers) or "(none)"),
        paint(f"refused peers {refused}", "yellow" if refused else None, colour),
    ]
    lines = ["   ".join(head), ""]
    rows: list[list[Cell]] = []
    for g in st["groups"]:
        health: Cell = ("healthy", "green") if g["healthy"] else ("DEGRADED", "bold red")
        fo: Cell = (g["failover"], "bold yellow") if g["failover"] else ("-", None)
        primary = g["primary"] or "none"
        rows.append(
            [
                (g["group"], "bold"),
                (primary, "cyan" if g["primary"] else "bold red"),
                (g["primary_address"] or "-", None),
                (str(g["config_epoch"]), None),
                (str(g["epoch"]), None),
                (g["role"], None),
                (g.get("leader") or "-", None),
                health,
                fo,
            ]
        )
    headers = ["GROUP", "PRIMARY", "ADDRESS", "EPOCH", "MY EPOCH", "MY ROLE", "LEADER"]
    headers += ["HEALTH", "FAILOVER"]
    lines += table(headers, rows, colour)
    for g in st["groups"]:
        for why in g.get("problems", ()):
            lines.append(paint(f"  {g['group']}: {why}", "bold red", colour))
    for g in st["groups"]:
        if g.get("last_failover"):
            lines.append(f"  {g['group']}: last failover {last_failover(g['last_failover'])}")
    for g in st["groups"]:
        lines += ["", paint(f"{g['group']} nodes", "bold", colour)]
        node_headers = ["NODE", "ADDRESS", "ROLE", "OFFSET", "BEHIND", "LAG", "WRITES", "STATE"]
        lines += table(node_headers, _node_rows(g), colour, indent="  ")
    return "\n".join(lines)
