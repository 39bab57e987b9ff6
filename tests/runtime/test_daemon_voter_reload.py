"""A file-config voter change applied live (SIGHUP's reload) on real daemons and Valkey."""

from __future__ import annotations

import asyncio
import copy

import pytest

from gungnir.local import start_group
from gungnir.runtime.cluster import FAST, InProcessCluster, cluster_docs
from gungnir.runtime.config import load

from .support import nodes_of, until

pytestmark = pytest.mark.slow

OLD = ["d1", "d2", "d3"]
NEW = ["d2", "d3", "d4"]


def test_reload_commits_a_new_voter_set_while_the_primary_stays(tmp_path):
    async def main():
        with start_group(replicas=2) as g:
            docs = cluster_docs(nodes_of(g), tmp_path, daemons=4, settings={**FAST, "voters": OLD})
            async with InProcessCluster(docs) as c:
                await until(lambda: c.primaries() == {"node-0"}, 10, "bootstrap")
                assert not next(iter(c.daemons["d4"].groups.values())).state.is_voter
                for i, doc in enumerate(docs):  # the operator edits every file, then SIGHUP
                    new = copy.deepcopy(doc)
                    new["groups"]["demo"]["next_voters"] = NEW
                    c.docs[i] = new  # what a restart reads from now on
                    applied = c.daemons[doc["daemon"]["id"]].reload(load(doc=new, env={}))
                    assert applied == [f"group demo: voters {', '.join(NEW)} asked for"]

                def view(d):
                    return c.daemons[d].groups["demo"].state.settings

                await until(
                    lambda: all(
                        view(d).voters == tuple(NEW) and not view(d).next_voters for d in c.daemons
                    ),
                    15,
                    "the new voter set committed on every daemon",
                )
                assert c.primaries() == {"node-0"}
                assert c.daemons["d4"].groups["demo"].state.is_voter
                assert not c.daemons["d1"].groups["demo"].state.is_voter
                # a second reload with the same file changes nothing
                new = copy.deepcopy(docs[0])
                new["groups"]["demo"]["next_voters"] = NEW
                assert c.daemons["d1"].reload(load(doc=new, env={})) == []
                # and a restart (reading the edited file) keeps the committed view
                await c.stop_one("d2")
                await c.start_one("d2")
                await until(lambda: view("d2").voters == tuple(NEW), 5, "d2's persisted view")
                assert not view("d2").next_voters

    asyncio.run(asyncio.wait_for(main(), 60))
