"""Manual switchover through the annotation: one daemon acts, once per request."""

from __future__ import annotations

from kubernetes import client

from gungnir.kube.groups import request_switchover
from gungnir.kube.switchover import SwitchoverWatcher

from .apiserver import ApiServer
from .conftest import GROUP, NS, Kubelet, backend, run, until


def test_annotation_becomes_one_core_command(
    api: ApiServer, kc: client.ApiClient, cluster: Kubelet
) -> None:
    async def scenario() -> None:
        leader, follower = backend(api.url), backend(api.url)
        await leader.start()
        await follower.start()
        submitted: list[tuple[str, str, str | None]] = []
        watchers = [
            SwitchoverWatcher(
                b,
                lambda g, t, who=who: submitted.append((who, g, t)),
                should_act=lambda g, me=who: me == "leader",
            )
            for who, b in (("leader", leader), ("follower", follower))
        ]
        for w in watchers:
            w.start()
        await request_switchover(leader.api, GROUP, "cache-2")
        await until(lambda: submitted == [("leader", GROUP, "cache-2")], what="submitted")
        await until(lambda: leader.switchover_request(GROUP) is None, what="cleared")
        await request_switchover(leader.api, GROUP, "any")
        await until(lambda: len(submitted) == 2, what="second request")
        assert submitted[1] == ("leader", GROUP, None)
        await request_switchover(leader.api, GROUP, "nope")  # no such pod: refused, cleared
        await until(
            lambda: leader.switchover_request(GROUP) is None and leader.events.posted >= 3,
            what="refusal",
        )
        assert len(submitted) == 2
        evs = client.CoreV1Api(kc).list_namespaced_event(NS).items
        assert {e.reason for e in evs} == {"SwitchoverRequested", "SwitchoverRefused"}
        for w in watchers:
            await w.close()
        await leader.close()
        await follower.close()

    run(scenario())
