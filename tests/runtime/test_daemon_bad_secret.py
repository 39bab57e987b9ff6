"""A daemon started with a wrong peer secret, against a healthy group of real processes.

Issue 22: it took every refused authentication for a lost link, decided it was on the
minority side and fenced the healthy primary (writes refused) while it reported itself
healthy and ready.  A refusal is an answer: the daemon must leave the primary alone, be
unready with the reason, and export the refusal; cut off for real, it must still fence.
"""

from __future__ import annotations

import asyncio

import pytest

from gungnir.local import start_group
from gungnir.runtime.cluster import FAST, InProcessCluster, cluster_docs

from .support import nodes_of, until

pytestmark = pytest.mark.slow


def _writable(node) -> bool:
    return node.command("SET", "probe", "1") in (b"OK", "OK")


def test_a_wrong_secret_is_unready_and_harmless_and_still_fences_when_cut_off(tmp_path):
    async def main():
        with start_group(replicas=2) as g:
            docs = cluster_docs(nodes_of(g), tmp_path)
            docs[2]["daemon"]["secret"] = "not-the-secret"
            async with InProcessCluster(docs) as c:
                await until(lambda: c.primaries() == {"node-0"}, 10, "bootstrap")
                bad = c.daemons["d3"]
                notices: list[str] = []
                bad.on_notify = lambda _g, ev, detail: notices.append(ev)
                await until(
                    lambda: all(link.refused for link in bad.links.values()),
                    10,
                    "d1 and d2 to refuse d3's authentication",
                )
                ready, why = bad._ready()
                assert not ready and "refuse this daemon's authentication" in why, why
                # d3 refuses d1 and d2 too, but they still make a majority: ready, with the
                # refusal exported for the alert
                assert c.daemons["d1"]._ready()[0]
                await until(
                    lambda: (
                        c.daemons["d1"].metrics.registry.get_sample_value(
                            "gungnir_peer_auth_refused", {"peer": "d3"}
                        )
                        == 1
                    ),
                    10,
                    "d1 to export d3's refusal",
                )
                sample = bad.metrics.registry.get_sample_value
                assert sample("gungnir_peer_auth_refused", {"peer": "d1"}) == 1
                assert (
                    c.daemons["d1"].metrics.registry.get_sample_value(
                        "gungnir_peer_auth_refused", {"peer": "d2"}
                    )
                    == 0
                )
                # Well past fence_after (and the issue's ~3 s): the primary still takes
                # writes, and the misconfigured daemon never considered itself isolated.
                deadline = asyncio.get_running_loop().time() + 10 * FAST["fence_after"]
                while asyncio.get_running_loop().time() < deadline:
                    assert _writable(g.primary)
                    assert bad.groups["demo"].state.isolated_since is None
                    await asyncio.sleep(FAST["probe_interval"])  # sampling period of a window
                assert "+fence-minority" not in notices
                # Now cut off for real: the peers are gone (connection refused, no answer).
                await c.stop_one("d1")
                await c.stop_one("d2")
                await until(lambda: "+fence-minority" in notices, 10, "d3 to fence on its own")
                await until(lambda: not _writable(g.primary), 5, "the primary to refuse writes")

    asyncio.run(main())
