"""The probe round trip reaches ``gungnir_node_last_probe_duration_seconds``."""

from __future__ import annotations

import asyncio

from gungnir.local import free_port
from gungnir.runtime.metrics import Metrics
from gungnir.runtime.prober import NodeLink
from gungnir.runtime.telemetry import Telemetry


def _sample(m: Metrics, name: str, **labels: str) -> float | None:
    value = m.registry.get_sample_value(name, labels)
    return None if value is None else float(value)


def test_probe_duration_and_outcome_reach_the_metrics(valkey_node):
    m = Metrics(process_metrics=False)
    tel = Telemetry(m)
    link = NodeLink("n0", (valkey_node.host, valkey_node.port), names={})
    dead = NodeLink("n1", ("127.0.0.1", free_port()), names={})  # nothing listens there

    async def main() -> None:
        try:
            for lk in (link, dead):
                probe = await lk.probe(1.0)
                tel.probe_timing("g", lk.name, lk.last_duration, timed_out=lk.last_timed_out)
                tel.event("g", probe)
        finally:
            link.close()
            dead.close()

    asyncio.run(main())
    up = _sample(m, "gungnir_node_last_probe_duration_seconds", group="g", node="n0")
    assert up is not None and 0 < up < 1.0 and up == link.last_duration
    down = _sample(m, "gungnir_node_last_probe_duration_seconds", group="g", node="n1")
    assert down is not None and down == dead.last_duration and not dead.last_timed_out
    ok = _sample(m, "gungnir_node_probes_total", group="g", node="n0", outcome="ok")
    refused = _sample(m, "gungnir_node_probes_total", group="g", node="n1", outcome="error")
    assert ok == 1 and refused == 1
