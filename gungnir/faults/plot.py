"""A picture of a fault campaign: loss and unavailability per nemesis, per system.

The campaign table has fifteen columns; what an operator asks first is "which system lost
acknowledged writes under which fault, and for how long were clients stuck". This draws three
panels from the campaign's summary rows (the same rows as ``summary.json``): lost acknowledged
SADDs, the longest time without any acknowledgement, and the recovery time after the heal —
one group of bars per scenario, one bar per system, the Sentinel baseline first.

matplotlib is optional: without it :func:`plot_campaign` says so and draws nothing, and the
Markdown report is written anyway. It uses matplotlib's object API (no ``pyplot``), so it
neither needs a display nor changes any global backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

__all__ = ["PANELS", "SYSTEMS", "plot_campaign"]

#: Known systems in display order (baseline first) with their legend label and colour.
SYSTEMS: dict[str, tuple[str, str]] = {
    "sentinel": ("Sentinel", "#9e9e9e"),
    "gungnir-availability": ("Gungnir availability", "#1f77b4"),
    "gungnir-consistency": ("Gungnir consistency", "#2ca02c"),
}
_OTHER_COLOURS = ("#ff7f0e", "#9467bd", "#8c564b", "#e377c2")

#: (summary key, panel title, y-axis label)
PANELS = (
    ("lost", "Lost acknowledged writes (SADD)", "writes"),
    ("max_unavailable_s", "Longest time without an acknowledgement", "seconds"),
    ("recovery_s", "Recovery after the heal", "seconds"),
)

MISSING_MATPLOTLIB = (
    "plot skipped: matplotlib is not installed (pip install matplotlib to get plot.png)"
)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return None if math.isnan(value) else float(value)


def _order(names: Sequence[str], known: Sequence[str]) -> list[str]:
    """``names`` without duplicates, those in ``known`` first in ``known``'s order."""
    seen = list(dict.fromkeys(names))
    return [n for n in known if n in seen] + [n for n in seen if n not in known]


def plot_campaign(rows: Sequence[dict[str, Any]], path: Path, title: str = "") -> str | None:
    """Draw ``rows`` to the PNG ``path``; ``None`` on success, else why nothing was drawn.

    Runs that could not run (harness errors) or have no number leave a gap marked "error" or
    "n/a" instead of a zero bar that would read as "nothing lost"; a scenario that does not
    apply to a system (Sentinel-only options) leaves an unmarked gap.
    """
    try:
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
    except ImportError:
        return MISSING_MATPLOTLIB
    usable = [r for r in rows if r.get("sut") and r.get("scenario")]
    if not usable:
        return "plot skipped: no runs to draw"
    systems = _order([str(r["sut"]) for r in usable], list(SYSTEMS))
    scenarios = _order([str(r["scenario"]) for r in usable], [])
    cell = {(str(r["sut"]), str(r["scenario"])): r for r in usable}
    colours: dict[str, str] = {}
    for sut in systems:
        spare = _OTHER_COLOURS[len([c for c in colours if c not in SYSTEMS]) % 4]
        colours[sut] = SYSTEMS[sut][1] if sut in SYSTEMS else spare

    width = max(7.0, 1.1 * len(scenarios) * max(1, len(systems)) * 0.45 + 2.5)
    fig = Figure(figsize=(width, 10.5), layout="constrained")
    axes = fig.subplots(len(PANELS), 1, sharex=True)
    bar_w = 0.8 / len(systems)
    xs = range(len(scenarios))
    for ax, (key, panel_title, unit) in zip(axes, PANELS, strict=True):
        for i, sut in enumerate(systems):
            offset = (i - (len(systems) - 1) / 2) * bar_w
            for x, scenario in zip(xs, scenarios, strict=True):
                row = cell.get((sut, scenario))
                if row is None:
                    continue  # this scenario does not apply to this system
                value = _number(row.get(key))
                if value is None:
                    gap = "error" if row.get("error") else "n/a"
                    ax.text(x + offset, 0, gap, ha="center", va="bottom", fontsize=7, rotation=90)
                    continue
                bars = ax.bar(x + offset, value, bar_w, color=colours[sut])
                label = f"{value:g}" if key == "lost" else f"{value:.1f}"
                ax.bar_label(bars, labels=[label], fontsize=7, padding=1)
        ax.set_title(panel_title, fontsize=11, loc="left")
        ax.set_ylabel(unit)
        ax.margins(y=0.15)
        ax.set_xlim(-0.5, len(scenarios) - 0.5)
        ax.grid(axis="y", alpha=0.3)
        ax.set_axisbelow(True)
    axes[-1].set_xticks(list(xs), scenarios, rotation=25, ha="right", fontsize=9)
    handles = [Patch(color=colours[s], label=SYSTEMS.get(s, (s, ""))[0]) for s in systems]
    if title:
        fig.suptitle(title, fontsize=12)
    fig.legend(handles=handles, loc="outside lower center", fontsize=9, ncols=len(systems))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    return None
