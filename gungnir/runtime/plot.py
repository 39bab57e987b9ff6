"""Draw failover timelines (PNG), one panel per setup on a shared time axis.

    python -m gungnir.runtime.plot failover-timeline.json -o failover-timeline.png

The JSON is what the failover benchmark writes next to its picture
(``GUNGNIR_BENCH_PLOT=PATH.png``).  Each panel shows the writer's attempts in 20 ms bins —
acknowledged writes above the axis, failed attempts below it — and a vertical line for each
milestone (detected, agreed, elected, promoted, routed, first write on the new primary), so
the eye sees where each setup spends its time.  matplotlib is an optional extra
(``pip install gungnir[plot]``); without it :func:`plot` raises :class:`PlotUnavailable`
with that advice, and callers print it instead of failing.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from .timeline import MILESTONES, Timeline, load_timelines

__all__ = ["PlotUnavailable", "main", "plot"]

BIN = 0.02
_COLOURS = {
    "detected": "#9467bd",
    "agreed": "#8c564b",
    "elected": "#1f77b4",
    "promoted": "#ff7f0e",
    "routed": "#17becf",
    "first write": "#2ca02c",
}


class PlotUnavailable(RuntimeError):
    """matplotlib is not installed."""


def _bins(times: Sequence[float], lo: float, hi: float) -> tuple[list[float], list[int]]:
    n = max(1, int((hi - lo) / BIN) + 1)
    counts = [0] * n
    for t in times:
        i = int((t - lo) / BIN)
        if 0 <= i < n:
            counts[i] += 1
    return [lo + i * BIN for i in range(n)], counts


def plot(timelines: Sequence[Timeline], out: str | Path, title: str | None = None) -> Path:
    """Write the PNG and return its path."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as exc:
        raise PlotUnavailable(
            "matplotlib is not installed: pip install 'gungnir[plot]' (or matplotlib) "
            "to draw the failover timeline"
        ) from exc
    if not timelines:
        raise ValueError("no timeline to plot")
    lo = min([-0.3] + [min(t.acks + t.failures, default=0.0) for t in timelines])
    hi = max(max(t.acks + t.failures + list(t.marks.values()), default=1.0) for t in timelines)
    hi += 0.05
    fig, axes = plt.subplots(
        len(timelines), 1, figsize=(11.5, 1.6 + 2.3 * len(timelines)), sharex=True, squeeze=False
    )
    top = 0
    for tl in timelines:
        top = max(top, max(_bins(tl.acks, lo, hi)[1]), max(_bins(tl.failures, lo, hi)[1]))
    top = max(top, 1)
    for ax, tl in zip(axes[:, 0], timelines, strict=True):
        x, ok = _bins(tl.acks, lo, hi)
        _, bad = _bins(tl.failures, lo, hi)
        ax.bar(x, ok, width=BIN, align="edge", color="#2ca02c", label="acknowledged writes")
        ax.bar(x, [-b for b in bad], width=BIN, align="edge", color="#d62728",
               label="failed attempts")  # fmt: skip
        ax.axhline(0, color="#444444", linewidth=0.6)
        ax.axvline(0, color="black", linewidth=1.6)
        ax.text(0, top * 1.05, " kill -9", fontsize=8, va="bottom", ha="left")
        for key in (k for k in MILESTONES if k in tl.marks):
            t = tl.marks[key]
            ax.axvline(t, color=_COLOURS[key], linewidth=1.4, linestyle="--",
                       label=f"{key} {t:.2f} s")  # fmt: skip
        summary = tl.name
        if tl.unavailable is not None:
            summary += f": writes unavailable {tl.unavailable:.2f} s"
        if tl.lost is not None:
            summary += f", acknowledged writes lost {tl.lost}"
        ax.set_title(summary, fontsize=10, loc="left")
        ax.set_ylim(-top * 1.15, top * 1.3)
        ax.set_ylabel(f"writes per {int(BIN * 1000)} ms\n(failed below 0)", fontsize=9)
        ax.grid(axis="x", alpha=0.3)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    axes[-1, 0].set_xlabel("seconds after kill -9 of the primary")
    axes[-1, 0].set_xlim(lo, hi)
    if title:
        fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    path = Path(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m gungnir.runtime.plot", description=__doc__)
    ap.add_argument("timelines", help="JSON written by the failover benchmark")
    ap.add_argument("-o", "--output", help="PNG path (default: the JSON's name with .png)")
    args = ap.parse_args(argv)
    try:
        timelines, meta = load_timelines(args.timelines)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        print(f"plot: cannot read {args.timelines}: {exc}", file=sys.stderr)
        return 2
    out = args.output or str(Path(args.timelines).with_suffix(".png"))
    try:
        path = plot(timelines, out, title=meta.get("title"))
    except PlotUnavailable as exc:
        print(f"plot: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
