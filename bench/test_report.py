"""bench/report.py on a small pytest-benchmark JSON written here: the ratio table, and the
throughput, fraction-of-ceiling and latency tables built from ``extra_info``."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

_spec = importlib.util.spec_from_file_location("report", Path(__file__).with_name("report.py"))
assert _spec is not None and _spec.loader is not None
report = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(report)

PIPE = "pipeline-get (100k, batches of 100)"
SEQ = "sequential-get (2000 round trips)"


def _bench(group: str, impl: str, seconds: float, **extra: Any) -> dict[str, Any]:
    return {
        "group": group,
        "name": f"test_x[{impl}]",
        "param": impl,
        "extra_info": {"impl": impl, **extra},
        "stats": {"min": seconds, "median": seconds * 2},
    }


@pytest.fixture
def client_json(tmp_path: Path) -> str:
    data = {
        "benchmarks": [
            _bench(PIPE, "redis-py", 2.0, ops=100_000),
            _bench(PIPE, "gungnir", 0.1, ops=100_000),
            _bench(PIPE, "redis-benchmark", 0.125, ops=100_000, rps=1_000_000.0, p50_us=90.0),
            _bench(SEQ, "redis-py", 0.2, ops=2000, p50_us=61.0, p99_us=2400.0),
            _bench(SEQ, "gungnir", 0.04, ops=2000, p50_us=14.0, p99_us=39.0),
            _bench(SEQ, "redis-benchmark", 0.1, ops=2000, rps=25_000.0, p50_us=31.0, p99_us=55.0),
            # A group from another suite: no ops, no latencies -> ratios only.
            _bench("decode", "redis-py", 1.0),
            _bench("decode", "gungnir", 0.5),
        ]
    }
    path = tmp_path / "client.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def test_throughput_is_ops_over_the_chosen_statistic(client_json: str) -> None:
    table = report.load(client_json, "min")
    extras = report.load_extra(client_json)
    rates = report.throughput(table, extras)
    assert rates[PIPE] == {
        "redis-py": 50_000.0,
        "gungnir": 1_000_000.0,
        "redis-benchmark": 800_000.0,
    }
    assert rates[SEQ]["gungnir"] == 50_000.0
    assert "decode" not in rates
    medians = report.throughput(report.load(client_json, "median"), extras)
    assert medians[PIPE]["gungnir"] == 500_000.0


def test_fraction_of_the_ceiling_uses_its_own_rate(client_json: str) -> None:
    extras = report.load_extra(client_json)
    rates = report.throughput(report.load(client_json, "min"), extras)
    vs = report.versus_ceiling(rates, extras, "redis-benchmark")
    top, fractions = vs[PIPE]
    assert top == 1_000_000.0  # its rps, not ops / wall time (which includes start-up)
    assert fractions == {"redis-py": 0.05, "gungnir": 1.0}
    assert vs[SEQ][1]["gungnir"] == 2.0
    assert report.versus_ceiling(rates, extras, "absent") == {}


def test_latency_only_for_groups_with_per_call_percentiles(client_json: str) -> None:
    lat = report.latencies(report.load_extra(client_json), "redis-benchmark")
    assert list(lat) == [SEQ]  # the pipelined row's p50 is redis-benchmark's alone
    assert lat[SEQ] == {
        "redis-py": (61.0, 2400.0),
        "gungnir": (14.0, 39.0),
        "redis-benchmark": (31.0, 55.0),
    }


def test_main_prints_every_table(client_json: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert report.main([client_json, "--baseline", "redis-py", "--stat", "min"]) == 0
    out = capsys.readouterr().out
    assert f"| {PIPE} | redis-py (2 s) | 1.00x | 20.00x | 16.00x |" in out
    assert f"| {PIPE} | 50k | 1.00M | 800k (own 1.00M) |" in out
    assert f"| {PIPE} | 1.00M | 0.05 | 1.00 |" in out
    assert f"| {SEQ} | 61 / 2.4e+03 | 14 / 39 | 31 / 55 |" in out
    assert "| decode | redis-py (1 s) | 1.00x | 2.00x | - |" in out
    assert out.count("| decode |") == 1


def test_main_without_extra_info_prints_ratios_only(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "codec.json"
    data = {"benchmarks": [_bench("g", "hiredis", 1.0), _bench("g", "gungnir", 0.25)]}
    for b in data["benchmarks"]:
        b["extra_info"] = {}
    path.write_text(json.dumps(data), encoding="utf-8")
    assert report.main([str(path), "--baseline", "hiredis"]) == 0
    out = capsys.readouterr().out
    assert "| g | hiredis (2 s) | 1.00x | 4.00x |" in out
    assert "Throughput" not in out and "Latency" not in out
