"""Print a Markdown table of speed ratios from pytest-benchmark JSON output.

Usage::

    pytest bench/test_bench_codec.py --benchmark-json=codec.json
    python bench/report.py codec.json --baseline hiredis,libvalkey

One row per benchmark group, one column per implementation. Each cell is
``baseline median / implementation median``: above 1.00 the implementation is faster.
With several comma-separated baseline names, the baseline of each group is the *fastest*
of those present in that group, which is how "ahead of the best peer" is judged. An
implementation's name is ``extra_info["impl"]`` when the benchmark set it, else the last
parametrize id in the test name (``test_x[shape-impl]`` -> ``impl``).
Generic on purpose: other suites reuse it.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections import defaultdict
from typing import Any


def impl_name(bench: dict[str, Any]) -> str:
    extra = bench.get("extra_info") or {}
    if "impl" in extra:
        return str(extra["impl"])
    param = bench.get("param") or ""
    if param:
        return str(param).split("-")[-1]
    return str(bench["name"])


def load(path: str, stat: str) -> dict[str, dict[str, float]]:
    """group -> implementation -> statistic (seconds)."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    table: dict[str, dict[str, float]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        group = bench.get("group") or bench["name"]
        table[group][impl_name(bench)] = float(bench["stats"][stat])
    return table


def ratios(
    table: dict[str, dict[str, float]], baselines: list[str]
) -> dict[str, tuple[str, dict[str, float]]]:
    """group -> (baseline used, implementation -> ratio)."""
    out: dict[str, tuple[str, dict[str, float]]] = {}
    for group, times in table.items():
        present = [b for b in baselines if b in times]
        if not present:
            continue
        base = min(present, key=lambda b: times[b])
        out[group] = (base, {impl: times[base] / t for impl, t in times.items() if t > 0})
    return out


def _fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:.3g} {unit}"
    return f"{seconds / 1e-9:.3g} ns"


def render(table: dict[str, dict[str, float]], rat: dict[str, tuple[str, dict[str, float]]]) -> str:
    """One row per group: baseline, its time, then one ratio column per implementation."""
    impls: list[str] = []
    for group in rat:
        for impl in table[group]:
            if impl not in impls:
                impls.append(impl)
    lines = [
        "| group | baseline (time) | " + " | ".join(impls) + " |",
        "|---|---|" + "---:|" * len(impls),
    ]
    for group, (base, r) in rat.items():
        cells = [f"{r[i]:.2f}x" if i in r else "-" for i in impls]
        lines.append(
            f"| {group} | {base} ({_fmt_time(table[group][base])}) | " + " | ".join(cells) + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("json_file", help="output of pytest --benchmark-json")
    parser.add_argument(
        "--baseline",
        required=True,
        help="implementation name, or comma-separated names (fastest present is used)",
    )
    parser.add_argument("--stat", default="median", help="statistic to compare (default median)")
    args = parser.parse_args(argv)
    table = load(args.json_file, args.stat)
    rat = ratios(table, [b.strip() for b in args.baseline.split(",") if b.strip()])
    if not rat:
        print(f"no group contains a baseline named {args.baseline!r}", file=sys.stderr)
        return 1
    print(render(table, rat))
    print(
        f"\nCells: {args.stat} time of the baseline / {args.stat} time of the implementation "
        "(higher is faster; 1.00x = baseline)."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
