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

Benchmarks that record more in ``extra_info`` get more tables, printed after the ratios
(the client suite records all of these):

* ``ops`` (operations per round): **throughput**, ``ops / time`` with the same statistic as
  the ratios; where an implementation also reports its own rate as ``rps`` (redis-benchmark
  does, excluding its process start-up), that rate is shown beside the derived one.
* ``ops`` and a ceiling implementation (``--ceiling``, default ``redis-benchmark``): each
  implementation's ops/s **as a fraction of the ceiling's** own rate (its ``rps`` if
  recorded, else derived), so a goal such as "at least half of redis-benchmark's pipelined
  ops/s" is read straight off the output.
* ``p50_us`` / ``p99_us`` recorded by an implementation other than the ceiling: a
  **latency** table of those percentiles per call, for every implementation that has them.
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


def load_extra(path: str) -> dict[str, dict[str, dict[str, Any]]]:
    """group -> implementation -> extra_info (empty when the benchmark recorded none)."""
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    out: dict[str, dict[str, dict[str, Any]]] = defaultdict(dict)
    for bench in data["benchmarks"]:
        group = bench.get("group") or bench["name"]
        out[group][impl_name(bench)] = dict(bench.get("extra_info") or {})
    return out


def throughput(
    table: dict[str, dict[str, float]], extras: dict[str, dict[str, dict[str, Any]]]
) -> dict[str, dict[str, float]]:
    """group -> implementation -> operations per second (``ops`` / time), where recorded."""
    out: dict[str, dict[str, float]] = {}
    for group, times in table.items():
        rates = {
            impl: float(extras[group][impl]["ops"]) / t
            for impl, t in times.items()
            if t > 0 and "ops" in extras.get(group, {}).get(impl, {})
        }
        if rates:
            out[group] = rates
    return out


def _own_rate(extra: dict[str, Any]) -> float | None:
    rps = extra.get("rps")
    return float(rps) if rps else None


def _fmt_rate(per_second: float) -> str:
    if per_second >= 1e6:
        return f"{per_second / 1e6:.2f}M"
    if per_second >= 1e3:
        return f"{per_second / 1e3:.3g}k"
    return f"{per_second:.3g}"


def _columns(groups: dict[str, dict[str, Any]]) -> list[str]:
    impls: list[str] = []
    for row in groups.values():
        for impl in row:
            if impl not in impls:
                impls.append(impl)
    return impls


def render_throughput(
    rates: dict[str, dict[str, float]], extras: dict[str, dict[str, dict[str, Any]]]
) -> str:
    """ops/s per group and implementation; an implementation's own rate in parentheses."""
    impls = _columns(rates)
    lines = ["| group | " + " | ".join(impls) + " |", "|---|" + "---:|" * len(impls)]
    for group, row in rates.items():
        cells = []
        for impl in impls:
            if impl not in row:
                cells.append("-")
                continue
            cell = _fmt_rate(row[impl])
            own = _own_rate(extras[group][impl])
            if own is not None:
                cell += f" (own {_fmt_rate(own)})"
            cells.append(cell)
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def versus_ceiling(
    rates: dict[str, dict[str, float]],
    extras: dict[str, dict[str, dict[str, Any]]],
    ceiling: str,
) -> dict[str, tuple[float, dict[str, float]]]:
    """group -> (ceiling's ops/s, implementation -> its ops/s / the ceiling's)."""
    out: dict[str, tuple[float, dict[str, float]]] = {}
    for group, row in rates.items():
        if ceiling not in row:
            continue
        top = _own_rate(extras[group][ceiling]) or row[ceiling]
        out[group] = (top, {impl: r / top for impl, r in row.items() if impl != ceiling})
    return out


def render_ceiling(vs: dict[str, tuple[float, dict[str, float]]], ceiling: str) -> str:
    impls = _columns({g: fr for g, (_, fr) in vs.items()})
    lines = [
        f"| group | {ceiling} ops/s | " + " | ".join(impls) + " |",
        "|---|---:|" + "---:|" * len(impls),
    ]
    for group, (top, fractions) in vs.items():
        cells = [f"{fractions[i]:.2f}" if i in fractions else "-" for i in impls]
        lines.append(f"| {group} | {_fmt_rate(top)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def latencies(
    extras: dict[str, dict[str, dict[str, Any]]], ceiling: str
) -> dict[str, dict[str, tuple[float, float]]]:
    """group -> implementation -> (p50, p99) in microseconds, for the groups where an
    implementation other than the ceiling recorded them (per-call latency benches)."""
    out: dict[str, dict[str, tuple[float, float]]] = {}
    for group, row in extras.items():
        have = {
            impl: (float(x["p50_us"]), float(x["p99_us"]))
            for impl, x in row.items()
            if "p50_us" in x and "p99_us" in x
        }
        if any(impl != ceiling for impl in have):
            out[group] = have
    return out


def render_latency(lat: dict[str, dict[str, tuple[float, float]]]) -> str:
    impls = _columns(lat)
    lines = ["| group | " + " | ".join(impls) + " |", "|---|" + "---:|" * len(impls)]
    for group, row in lat.items():
        cells = [f"{row[i][0]:.3g} / {row[i][1]:.3g}" if i in row else "-" for i in impls]
        lines.append(f"| {group} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


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
    parser.add_argument(
        "--ceiling",
        default="redis-benchmark",
        help="implementation whose ops/s the others are compared with, when present "
        "(default redis-benchmark)",
    )
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
    extras = load_extra(args.json_file)
    rates = throughput(table, extras)
    if rates:
        print(f"\nThroughput, ops/s (operations per round / {args.stat} time):\n")
        print(render_throughput(rates, extras))
        print("\n(own X): the rate the implementation reported itself, without its start-up.")
        vs = versus_ceiling(rates, extras, args.ceiling)
        if vs:
            print(f"\nops/s as a fraction of {args.ceiling}'s own rate (1.00 = as fast):\n")
            print(render_ceiling(vs, args.ceiling))
    lat = latencies(extras, args.ceiling)
    if lat:
        print("\nLatency per call, p50 / p99 in microseconds (the last measured round):\n")
        print(render_latency(lat))
    return 0


if __name__ == "__main__":
    sys.exit(main())
