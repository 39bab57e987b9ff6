"""The timings of a migrated group, for ``gungnir migrate-sentinel``: Sentinel's
down-after-milliseconds becomes down_after, the one rule of the core derives every other
timing from it, and the notes say what it derived and the failover time to expect, by
docs/tuning.md's arithmetic.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from gungnir.core.settings import Settings

__all__ = ["DEFAULTS", "derived_notes", "expected_failover", "settings_of"]

#: Settings' defaults, the point the scaled timings are one instance of.
DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in dataclasses.fields(Settings) if f.default is not dataclasses.MISSING
}


def derived_notes(s: Settings) -> list[str]:
    """What the one rule derived from down_after (gungnir.core.settings.derive_timings), so
    the operator reads the timings the daemons will run with without writing them down.

    Why none are written: a file that names only down_after keeps following the rule (a
    later change of down_after moves every timing with it), and it is the configuration
    docs/tuning.md measures."""
    return [
        f"derived from down_after by the rule (docs/tuning.md), not written: probe_interval "
        f"{s.probe_interval:g} s, fence_after {s.fence_after:g} s, max_clock_drift "
        f"{s.max_clock_drift:g} s, promote_after {s.promote_after:g} s, report_ttl "
        f"{s.report_ttl:g} s, election_timeout {s.election_timeout:g} s, election_jitter "
        f"{s.election_jitter:g} s, failover_timeout {s.failover_timeout:g} s. The start-up "
        "timing rule holds with a margin (fence_after + probe_interval + max_clock_drift + "
        f"the time to see peer links drop <= promote_after): a daemon cut off from its peers "
        "fences its primary before the other side promotes.",
        f"the trade-off: a daemon that loses a majority of its peers for fence_after "
        f"({s.fence_after:g} s, half of down_after) fences the primaries it reaches, so a "
        "peer-network hiccup that long pauses writes (no data is lost); set fence_after (and "
        "the rule moves promote_after with it) if the daemons' network is less reliable than "
        "the path to the primary.",
    ]


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
