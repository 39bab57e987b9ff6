"""The timings of a migrated group, for ``gungnir migrate-sentinel``: what Sentinel's
down-after-milliseconds implies for gungnir's dependent timings, and the failover time to
expect, by docs/tuning.md's arithmetic.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gungnir.core.settings import Settings

__all__ = ["DEFAULTS", "expected_failover", "scaled_timings", "settings_of"]

#: Settings' defaults, the point the scaled timings are one instance of.
DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(Settings) if f.default is not dataclasses.MISSING
}


def scaled_timings(down: float, probe: float) -> tuple[dict[str, float], list[str]]:
    """fence_after, max_clock_drift, promote_after and election_jitter for a down_after
    shorter than gungnir's default, scaled with it; nothing for a longer one.

    Why: with a short down_after the default promote_after (4.5 s) and not detection would
    set the failover time, so a Sentinel tuned to fail over in about a second would fail over
    in five.  The defaults are one point of a rule that scales: fence_after = 2/3 down_after
    (never under two probe intervals), max_clock_drift = 1/6 down_after (never under 0.1 s),
    and promote_after = fence_after + probe_interval + max_clock_drift (the start-up timing
    rule) + three probe intervals of margin, the time an isolated daemon needs to see its
    peer links drop (a beat plus a timeout of two beats).  At down_after 3.0 s that gives
    exactly the defaults 2.0, 0.5 and 4.5 s; the demo's timings (fence_after 0.5, probes 0.1,
    drift 0.1, promote_after 1.0) keep the same three-probe margin.  Shorter only costs
    availability: fence_after is how long a daemon tolerates losing its peers before it
    pauses writes on the primaries it reaches; the timing rule (safety) is kept.
    """
    base = float(DEFAULTS["down_after"])
    if down >= base:
        return {}, [
            f"fence_after {DEFAULTS['fence_after']} s (a daemon cut off from a majority fences "
            f"the primaries it still reaches) and promote_after {DEFAULTS['promote_after']} s "
            "(the majority side's wait before promoting an unfenced primary; Sentinel has "
            f"neither) left at the defaults, which are made for down_after {base:g} s: from "
            f"down_after {DEFAULTS['promote_after']} s on, detection, not promote_after, sets "
            "the failover time."
        ]
    k = down / base
    fence = round(max(2 * probe, float(DEFAULTS["fence_after"]) * k), 3)
    drift = round(max(0.1, float(DEFAULTS["max_clock_drift"]) * k), 3)
    promote = round(fence + 4 * probe + drift, 3)
    jitter = round(float(DEFAULTS["election_jitter"]) * k, 3)
    out = {
        "fence_after": fence,
        "promote_after": promote,
        "max_clock_drift": drift,
        "election_jitter": jitter,
    }
    notes = [
        f"promote_after = {promote:g} s, fence_after = {fence:g} s, max_clock_drift = "
        f"{drift:g} s, election_jitter = {jitter:g} s (defaults {DEFAULTS['promote_after']}, "
        f"{DEFAULTS['fence_after']}, {DEFAULTS['max_clock_drift']}, "
        f"{DEFAULTS['election_jitter']} s, made for down_after {base:g} s), scaled with the "
        "short down_after: the majority side promotes a dead primary only promote_after after "
        "its last reply, so the default would make the failover take about "
        f"{DEFAULTS['promote_after']} s whatever down_after is. The start-up timing rule "
        f"still holds with the defaults' margin (fence_after + probe_interval + "
        f"max_clock_drift + 3 probe intervals = {promote:g} s = promote_after): a daemon cut "
        "off from its peers fences its primary before the other side promotes.",
        f"the trade-off: a daemon that loses a majority of its peers for about "
        f"{fence + 3 * probe:.2g} s (fence_after plus the 3 probe intervals it takes to see "
        "the links drop) fences the primaries it reaches, so a peer-network hiccup that long "
        "pauses writes (no data is lost); raise fence_after and promote_after together if the "
        f"daemons' network is less reliable. max_clock_drift {drift:g} s over windows of a "
        "few seconds still allows clocks to run apart by percents, where NTP keeps them within "
        "parts per million.",
    ]
    return out, notes


def settings_of(group: str, doc: dict[str, Any]) -> Settings:
    """The core settings a group document gives (validated: an error here is a bug of the
    planning above, caught again by :func:`_check`)."""
    keys = {f.name for f in dataclasses.fields(Settings)}
    values = {k: v for k, v in doc.items() if k in keys and k not in ("nodes", "voters")}
    return Settings(group=group, voters=tuple(doc["voters"]), nodes=tuple(doc["nodes"]), **values)


def expected_failover(s: Settings) -> str:
    """The write unavailability after a primary's crash, by docs/tuning.md's arithmetic:
    max(down_after + U(0, election_jitter), promote_after) + up to one probe_interval."""
    low = max(s.down_after, s.promote_after)
    high = max(s.down_after + s.election_jitter, s.promote_after) + s.probe_interval
    text = (
        f"expected failover after the primary crashes (write unavailability): {low:.1f} to "
        f"{high:.1f} s, max(down_after + U(0, election_jitter), promote_after) + up to one "
        "probe_interval (docs/tuning.md)"
    )
    if s.policy == "consistency":
        text += (
            f", plus the write lease ({s.lease:g} s) when the old primary cannot be fenced, "
            f"so up to {high + s.lease:.1f} s"
        )
    return text + (
        "; Sentinel with the same down-after-milliseconds takes down-after plus its own "
        "election and promotion (bench/test_bench_failover.py measures both in one run)."
    )
