"""The figures the docs quote about the write lease, computed from :class:`Settings` in one place.

Why: the lease formula changed (Valkey's fixed 2 s was added) and the pages did not all
follow: one said 3.0 s and a 7.5 s failover, three said 5.0 s.  Now a page never types such a
figure; it marks where one goes, and :func:`fill` writes the value the code computes:

    <!--fig:lease-->5.0 s<!--/fig-->
    <!--fig:lease min_replicas_max_lag=1 max_clock_drift=0.1-->3.6 s<!--/fig-->

The name picks the figure (:data:`FIGURES`), the optional ``key=value`` pairs change settings
from their defaults (a benchmark's, a campaign's).  ``python -m gungnir.configref --write``
refills every page, ``--check`` and ``tests/test_configref.py`` fail on a stale one, and the
test also fails on a lease figure or formula typed outside a marker.  The formula's terms
are checked against :attr:`Settings.lease` here, so a change of the formula in the core fails
the test until :data:`LEASE_TERMS` (and so every page) follows.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from gungnir.core.settings import VALKEY_LAG_SLACK, Settings

__all__ = ["FIGURES", "LEASE_TERMS", "PAGES", "fill", "lease_terms", "settings", "stale_pages"]

ROOT = Path(__file__).resolve().parent.parent
#: The pages whose lease figures are generated (configuration.md is generated whole).
PAGES = [
    ROOT / "docs" / name
    for name in ("concepts.md", "tuning.md", "daemon.md", "sentinel.md", "getting-started.md")
]

#: The lease, term by term: a Settings field name, or a constant with the name it has in
#: the docs.  Checked against ``Settings.lease`` by :func:`lease_terms`.
LEASE_TERMS: tuple[str | float, ...] = (
    "min_replicas_max_lag",
    VALKEY_LAG_SLACK,
    "lease_margin",
    "max_clock_drift",
)

MARK = re.compile(r"<!--fig:([a-z-]+)((?: [a-z_]+=[0-9.]+)*)-->(.*?)<!--/fig-->")


def settings(**changes: float) -> Settings:
    """The defaults (a 3-voter, 3-node group), with ``changes``."""
    return Settings(group="g", voters=("d1", "d2", "d3"), nodes=("n0", "n1", "n2")).replace(
        **changes
    )


def _num(value: float) -> str:
    """Seconds as the docs write them: 5.0, 3.6, 0.25."""
    value = round(value, 6)
    return f"{value:.1f}" if value == int(value) else f"{value:g}"


def lease_terms(s: Settings) -> list[float]:
    """The values of :data:`LEASE_TERMS`; raises if they do not add up to ``s.lease``."""
    values = [float(getattr(s, t)) if isinstance(t, str) else t for t in LEASE_TERMS]
    if abs(sum(values) - s.lease) > 1e-9:
        raise AssertionError(
            f"docfigures.LEASE_TERMS add up to {sum(values)}, Settings.lease is {s.lease}: "
            "the core's formula changed; update LEASE_TERMS, then python -m gungnir.configref "
            "--write"
        )
    return values


def _formula(s: Settings) -> str:
    return "`" + " + ".join(t if isinstance(t, str) else f"{t:g}" for t in LEASE_TERMS) + "`"


def _lease_sum(s: Settings) -> str:
    parts = " + ".join(f"{v:g}" if i == 1 else _num(v) for i, v in enumerate(lease_terms(s)))
    return f"{parts} = {_num(s.lease)} s"


FIGURES: dict[str, Callable[[Settings], str]] = {
    "lease": lambda s: f"{_num(s.lease)} s",
    "lease-formula": _formula,
    "lease-sum": _lease_sum,
    # a consistency failover whose old primary could not be fenced directly
    "failover-lease": lambda s: f"{_num(s.promote_after + s.lease)} s",
    "failover-lease-sum": lambda s: (
        f"{_num(s.promote_after)} + {_num(s.lease)} = {_num(s.promote_after + s.lease)} s"
    ),
}


def fill(text: str) -> str:
    """``text`` with every marked figure recomputed."""

    def one(m: re.Match[str]) -> str:
        name, args = m.group(1), m.group(2).split()
        if name not in FIGURES:
            raise ValueError(f"unknown figure {name!r} (known: {', '.join(FIGURES)})")
        changes = {k: float(v) for k, v in (a.split("=", 1) for a in args)}
        value = FIGURES[name](settings(**changes))
        return f"<!--fig:{name}{m.group(2)}-->{value}<!--/fig-->"

    return MARK.sub(one, text)


def stale_pages(write: bool = False) -> list[Path]:
    """The pages whose marked figures differ from the code's; rewritten when ``write``."""
    stale = []
    for page in PAGES:
        text = page.read_text()
        filled = fill(text)
        if filled != text:
            stale.append(page)
            if write:
                page.write_text(filled)
    return stale
