"""Role labels (safe order, epoch-guarded, reconciled) and Events on groups and pods."""

from __future__ import annotations

import pytest
from kubernetes import client

from gungnir.kube import KubeForbidden
from gungnir.kube.events import ELECTED, FENCED, PROMOTED
from gungnir.kube.labels import plan

from .apiserver import ApiServer
from .conftest import GROUP, NS, Kubelet, backend, run, until


def _labels(kc: client.ApiClient) -> dict[str, tuple[str | None, str | None]]:
    pods = client.CoreV1Api(kc).list_namespaced_pod(NS, label_selector=f"gungnir.io/group={GROUP}")
    return {
        p.metadata.name: (
            (p.metadata.labels or {}).get("gungnir.io/role"),
            (p.metadata.annotations or {}).get("gungnir.io/epoch"),
        )
        for p in pods.items
    }


def test_plan_order_fences_first_and_promotes_last() -> None:
    from gungnir.kube.model import PodInfo

    pods = {n: PodInfo(n, NS, n, "1.1.1.1", "n", "Running", True, "1") for n in "abcd"}
    order = plan(pods, {"a": "primary", "b": "replica", "c": "fenced", "d": "replica"}, 2)
    assert order == ["c", "b", "d", "a"]
    with pytest.raises(ValueError):
        plan(pods, {"a": "leader"}, 1)


def test_roles_are_labelled_in_order_and_reconciled(
    api: ApiServer, kc: client.ApiClient, cluster: Kubelet
) -> None:
    async def scenario() -> None:
        b = backend(api.url)
        await b.start()
        r = await b.reconcile_labels(
            GROUP, 1, {"cache-0": "primary", "cache-1": "replica", "cache-2": "replica"}
        )
        assert r.clean and sorted(r.changed) == ["cache-0", "cache-1", "cache-2"]
        assert _labels(kc)["cache-0"] == ("primary", "1")
        # Fail over to cache-1 in epoch 2: old primary fenced first, new primary last.
        await until(lambda: b.pods(GROUP)["cache-0"].role == "primary", what="cache sees")
        mark = len(api.requests)
        r = await b.reconcile_labels(
            GROUP, 2, {"cache-0": "fenced", "cache-1": "primary", "cache-2": "replica"}
        )
        patched = [q.name for q in api.requests[mark:] if q.method == "PATCH"]
        assert patched == ["cache-0", "cache-2", "cache-1"]
        assert _labels(kc) == {
            "cache-0": ("fenced", "2"),
            "cache-1": ("primary", "2"),
            "cache-2": ("replica", "2"),
        }
        # A stale leader (epoch 1) cannot relabel pods stamped with epoch 2.
        await until(lambda: b.pods(GROUP)["cache-1"].epoch == 2, what="epoch 2 seen")
        r = await b.reconcile_labels(GROUP, 1, {"cache-0": "primary", "cache-1": "replica"})
        assert r.changed == [] and r.skipped_newer == ["cache-0", "cache-1"]
        # Drift (someone edits a label) is corrected by the next reconcile.
        cluster.v1.patch_namespaced_pod(
            "cache-2",
            NS,
            {"metadata": {"labels": {"gungnir.io/role": "primary"}}},
            _content_type="application/merge-patch+json",
        )
        await until(lambda: b.pods(GROUP)["cache-2"].role == "primary", what="drift seen")
        r = await b.reconcile_labels(
            GROUP, 2, {"cache-0": "fenced", "cache-1": "primary", "cache-2": "replica"}
        )
        assert r.changed == ["cache-2"] and _labels(kc)["cache-2"] == ("replica", "2")
        await b.close()

    run(scenario())


def test_forbidden_is_a_clear_error_and_a_counter_not_a_crash(
    api: ApiServer, kc: client.ApiClient, cluster: Kubelet
) -> None:
    async def scenario() -> None:
        b = backend(api.url)
        await b.start()
        with api.fault(
            method="PATCH",
            path="/pods/",
            status=403,
            message='pods "cache-0" is forbidden: User "system:serviceaccount:'
            'default:gungnir" cannot patch resource "pods"',
        ):
            r = await b.reconcile_labels(GROUP, 1, {"cache-0": "fenced", "cache-1": "primary"})
        err = r.errors["cache-0"]
        assert isinstance(err, KubeForbidden) and err.status == 403
        assert 'cannot patch resource "pods"' in str(err)
        assert r.changed == [] and "cache-1" not in r.errors  # never labels a new primary
        assert b.stats.errors("forbidden") == 1
        with api.fault(method="PUT", path="endpointslices", status=403):
            await b.publish_routing(GROUP, 1, "cache-0", "gungnir-n1")  # create: allowed
            with pytest.raises(KubeForbidden):
                await b.publish_routing(GROUP, 2, "cache-1", "gungnir-n1")
            b.submit_routing(GROUP, 2, "cache-1", "gungnir-n1")
            await until(lambda: b.publisher.failures >= 2, what="publisher keeps trying")
        await until(lambda: b.publisher.converged(GROUP, 2, "cache-1"), 10, "after RBAC fix")
        assert b.stats.errors("forbidden") >= 3
        assert all(not t.done() for t in b._tasks)  # every background task still running
        await b.close()

    run(scenario())


def test_events_for_failover_steps(api: ApiServer, kc: client.ApiClient, cluster: Kubelet) -> None:
    async def scenario() -> None:
        b = backend(api.url)
        await b.start()
        b.event(GROUP, ELECTED, "gungnir-n1 leads epoch 2")
        b.event(GROUP, FENCED, "cache-0 demoted", pod="cache-0")
        b.event(GROUP, PROMOTED, "cache-1 promoted in epoch 2", pod="cache-1")
        b.event(GROUP, ELECTED, "gungnir-n1 leads epoch 2")  # a repeat: counted, not new
        await until(lambda: b.events.posted == 4, what="events posted")
        evs = client.CoreV1Api(kc).list_namespaced_event(NS).items
        by = {(e.involved_object.kind, e.involved_object.name, e.reason): e for e in evs}
        assert set(by) == {
            ("ValkeyGroup", GROUP, ELECTED),
            ("Pod", "cache-0", FENCED),
            ("Pod", "cache-1", PROMOTED),
        }
        assert by[("ValkeyGroup", GROUP, ELECTED)].count == 2
        pod_ev = by[("Pod", "cache-1", PROMOTED)]
        assert pod_ev.involved_object.uid and pod_ev.source.component == "gungnir"
        assert pod_ev.type == "Normal" and pod_ev.first_timestamp is not None
        # Events never block or raise when the API is down; they are dropped when over capacity.
        api.stop_listening()
        for i in range(300):
            b.event(GROUP, ELECTED, f"epoch {i}")
        assert b.events.dropped >= 44
        api.resume()
        await b.close()

    run(scenario())
