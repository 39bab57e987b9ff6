"""Shared helpers for the daemon integration tests: a group, daemons, and polling."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

from gungnir.local import LocalGroup


async def until(cond: Callable[[], Any], limit: float, what: str, every: float = 0.02) -> Any:
    """Poll ``cond`` until truthy; fail with ``what`` after ``limit`` seconds."""
    deadline = time.monotonic() + limit
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {limit}s waiting for {what}")
        await asyncio.sleep(every)  # polling period of a condition with a deadline


def nodes_of(group: LocalGroup) -> dict[str, tuple[str, int]]:
    return {n.name: (n.host, n.port) for n in group.nodes}


def roles(group: LocalGroup) -> dict[str, str]:
    out = {}
    for n in group.nodes:
        try:
            out[n.name] = n.info().get("role", "?") if n.is_running() else "dead"
        except Exception:
            out[n.name] = "unreachable"
    return out


def master_port(node: Any) -> int | None:
    try:
        info = node.info()
    except Exception:
        return None
    if info.get("role") != "slave":
        return None
    return int(info["master_port"])


def check_decision_logs(base: Any) -> Any:
    """Merge every daemon's decision log under ``base`` by time and replay it through the
    abstract model (the trace contract); return the report."""
    import json
    from pathlib import Path

    from gungnir.verify.trace import check_trace_lines

    lines = []
    for path in sorted(Path(base).glob("*/decisions.jsonl")):
        for text in path.read_text().splitlines():
            if text.strip():
                lines.append((json.loads(text)["t"], text))
    lines.sort(key=lambda x: x[0])
    return check_trace_lines([t for _, t in lines], source=str(base))
