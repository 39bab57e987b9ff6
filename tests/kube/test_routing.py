"""Routing through the primary Service's EndpointSlice: atomic, epoch-stamped, one pod."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
from kubernetes import client

from gungnir.kube import ConflictingConfig, KubeUnavailable, PodInfo, StaleEpoch
from gungnir.kube.routing import RoutingPublisher, build_slice, publish_routing, slice_name

from .apiserver import ApiServer
from .conftest import NS, Kubelet, backend, fast_api, run, until, watch_events

SERVICE = "cache-primary"


def _pod(name: str, ip: str) -> PodInfo:
    return PodInfo(name, NS, f"uid-{name}", ip, "n1", "Running", True, "1")


def _endpoints(obj: dict) -> list[str]:
    return [a for ep in obj.get("endpoints") or [] for a in ep["addresses"]]


def test_build_slice_names_one_pod_with_the_epoch() -> None:
    s = build_slice(NS, SERVICE, "cache", 7, _pod("cache-1", "10.0.0.11"), "gungnir-n1", 6379)
    assert s["metadata"]["name"] == slice_name(SERVICE)
    assert s["metadata"]["labels"]["kubernetes.io/service-name"] == SERVICE
    assert s["metadata"]["annotations"]["gungnir.io/epoch"] == "7"
    assert _endpoints(s) == ["10.0.0.11"]
    assert s["endpoints"][0]["targetRef"]["name"] == "cache-1"
    empty = build_slice(NS, SERVICE, "cache", 8, None, "gungnir-n1", 6379)
    assert empty["endpoints"] == [] and empty["metadata"]["annotations"]["gungnir.io/primary"] == ""
    v6 = build_slice(NS, SERVICE, "cache", 8, _pod("p", "fd00::1"), "l", 6379)
    assert v6["addressType"] == "IPv6"


def test_failovers_move_endpoints_in_one_update_and_never_name_two_pods(
    api: ApiServer, kc: client.ApiClient
) -> None:
    disc = client.DiscoveryV1Api(kc)
    pods = [_pod(f"cache-{i}", f"10.0.0.{10 + i}") for i in range(3)]
    k = fast_api(api.url)
    first = run(
        publish_routing(
            k, group="cache", service=SERVICE, epoch=1, primary=pods[0], leader="gungnir-n1"
        )
    )
    start = first.resource_version
    seen: list[dict] = []
    stop = threading.Event()

    def watcher() -> None:  # a client following the Service, as kube-proxy does
        while not stop.is_set():
            rv = seen[-1]["object"]["metadata"]["resourceVersion"] if seen else start
            seen.extend(
                watch_events(
                    disc.list_namespaced_endpoint_slice,
                    NS,
                    label_selector=f"kubernetes.io/service-name={SERVICE}",
                    resource_version=rv,
                    timeout_seconds=1,
                )
            )

    t = threading.Thread(target=watcher)
    t.start()
    steps = []
    epoch = 1
    for i in range(1, 13):  # 12 failovers: fence (no endpoint), then promote, each epoch
        epoch += 1
        new = pods[i % 3]
        steps.append(
            run(
                publish_routing(
                    k,
                    group="cache",
                    service=SERVICE,
                    epoch=epoch,
                    primary=None,
                    leader="gungnir-n2",
                )
            )
        )
        steps.append(
            run(
                publish_routing(
                    k, group="cache", service=SERVICE, epoch=epoch, primary=new, leader="gungnir-n2"
                )
            )
        )
    final_rv = steps[-1].resource_version

    def caught_up() -> bool:
        return bool(seen) and seen[-1]["object"]["metadata"]["resourceVersion"] == final_rv

    deadline = time.monotonic() + 10
    while not caught_up() and time.monotonic() < deadline:
        time.sleep(0.01)
    stop.set()
    t.join()
    k.close()
    assert caught_up()
    assert all(s.written for s in steps)
    # Every write is exactly one watch event; none ever names two pods; epochs never go back.
    assert len(seen) == len(steps)
    assert all(e["type"] == "MODIFIED" for e in seen)
    assert max(len(_endpoints(e["object"])) for e in seen) == 1
    epochs = [int(e["object"]["metadata"]["annotations"]["gungnir.io/epoch"]) for e in seen]
    assert epochs == sorted(epochs) and epochs[-1] == epoch
    # The address and the epoch arrive together: each promote event carries both.
    for e, step in zip(seen, steps, strict=True):
        assert _endpoints(e["object"]) == ([step.address] if step.address else [])
    # Only our slice serves the Service.
    slices = disc.list_namespaced_endpoint_slice(
        NS, label_selector=f"kubernetes.io/service-name={SERVICE}"
    ).items
    assert [s.metadata.name for s in slices] == [slice_name(SERVICE)]


@pytest.mark.parametrize("order", ["newer_wins_put", "older_wins_put"])
def test_racing_leaders_with_stale_versions(api: ApiServer, order: str) -> None:
    """Both read the same resourceVersion; the API lets one PUT through and 409s the other.
    The loser re-reads: the older epoch stands down, the newer one overwrites."""
    a, b = fast_api(api.url), fast_api(api.url)
    p0, p1, p2 = (
        _pod("cache-0", "10.0.0.10"),
        _pod("cache-1", "10.0.0.11"),
        _pod("cache-2", "10.0.0.12"),
    )
    run(publish_routing(a, group="cache", service=SERVICE, epoch=3, primary=p0, leader="x"))
    old, new = (4, p1), (5, p2)
    first, second = (new, old) if order == "newer_wins_put" else (old, new)

    async def race() -> list[object]:
        # Hold both PUTs until both GETs are done, so both write with the same version.
        with api.fault(method="PUT", path="endpointslices", delay=0.3, times=2):
            r1 = asyncio.create_task(
                publish_routing(
                    a, group="cache", service=SERVICE, epoch=first[0], primary=first[1], leader="a"
                )
            )
            await asyncio.sleep(0.05)
            r2 = asyncio.create_task(
                publish_routing(
                    b,
                    group="cache",
                    service=SERVICE,
                    epoch=second[0],
                    primary=second[1],
                    leader="b",
                )
            )
            return await asyncio.gather(r1, r2, return_exceptions=True)

    results = run(race())
    conflicts = [r for r in api.requests if r.method == "PUT" and r.status == 409]
    assert len(conflicts) == 1  # exactly one write lost the race at the API
    slice_ = run(
        a.call(
            "get",
            "endpointslices",
            a.discovery.read_namespaced_endpoint_slice,
            slice_name(SERVICE),
            NS,
        )
    )
    assert slice_["metadata"]["annotations"]["gungnir.io/epoch"] == "5"
    assert _endpoints(slice_) == ["10.0.0.12"]
    stale = [r for r in results if isinstance(r, StaleEpoch)]
    if order == "newer_wins_put":
        assert len(stale) == 1 and stale[0].theirs == 5  # the older leader stood down
    else:
        assert not stale and all(not isinstance(r, Exception) for r in results)
    a.close()
    b.close()


def test_same_epoch_two_primaries_exactly_one_wins(api: ApiServer) -> None:
    a, b = fast_api(api.url), fast_api(api.url)

    async def race() -> list[object]:
        with api.fault(method="POST", path="endpointslices", delay=0.3, times=2):
            return await asyncio.gather(
                publish_routing(
                    a,
                    group="cache",
                    service=SERVICE,
                    epoch=9,
                    primary=_pod("cache-0", "10.0.0.10"),
                    leader="a",
                ),
                publish_routing(
                    b,
                    group="cache",
                    service=SERVICE,
                    epoch=9,
                    primary=_pod("cache-1", "10.0.0.11"),
                    leader="b",
                ),
                return_exceptions=True,
            )

    results = run(race())
    wins = [r for r in results if not isinstance(r, Exception)]
    losses = [r for r in results if isinstance(r, ConflictingConfig)]
    assert len(wins) == 1 and len(losses) == 1
    assert a.stats.errors("conflict") + b.stats.errors("conflict") == 1  # AlreadyExists
    a.close()
    b.close()


def test_stale_leader_is_refused_and_same_epoch_new_ip_is_accepted(api: ApiServer) -> None:
    k = fast_api(api.url)
    run(
        publish_routing(
            k, group="g", service=SERVICE, epoch=5, primary=_pod("a", "10.0.0.1"), leader="l"
        )
    )
    with pytest.raises(StaleEpoch):
        run(
            publish_routing(
                k, group="g", service=SERVICE, epoch=4, primary=_pod("b", "10.0.0.2"), leader="old"
            )
        )
    with pytest.raises(ConflictingConfig):
        run(
            publish_routing(
                k, group="g", service=SERVICE, epoch=5, primary=_pod("b", "10.0.0.2"), leader="l"
            )
        )
    same = run(
        publish_routing(
            k, group="g", service=SERVICE, epoch=5, primary=_pod("a", "10.0.0.1"), leader="l"
        )
    )
    assert not same.written  # nothing to change: no write at all
    moved = run(
        publish_routing(
            k, group="g", service=SERVICE, epoch=5, primary=_pod("a", "10.0.0.9"), leader="l"
        )
    )
    assert moved.written and moved.address == "10.0.0.9"  # the primary restarted: follow it
    k.close()


def test_api_down_fails_fast_and_routing_converges_when_it_returns(
    api: ApiServer, cluster: Kubelet
) -> None:
    async def scenario() -> None:
        b = backend(api.url)
        await b.start()
        await b.publish_routing("cache", 1, "cache-0", "gungnir-n1")
        api.stop_listening()
        t0 = time.monotonic()
        with pytest.raises(KubeUnavailable):
            await b.publish_routing("cache", 2, "cache-1", "gungnir-n1")
        assert time.monotonic() - t0 < 3.0  # bounded by the retry deadline, not minutes
        # The data plane hands routing over and carries on at once.
        t0 = time.monotonic()
        b.submit_routing("cache", 2, None, "gungnir-n1")  # fenced, not yet promoted
        b.submit_routing("cache", 2, "cache-1", "gungnir-n1")
        assert time.monotonic() - t0 < 0.05
        await until(lambda: b.publisher.failures >= 2, what="publisher retrying")
        assert not b.publisher.converged("cache", 2, "cache-1")
        api.resume()
        await until(lambda: b.publisher.converged("cache", 2, "cache-1"), 15, "convergence")
        res = await b.publish_routing("cache", 2, "cache-1", "gungnir-n1")
        assert not res.written and res.address == "10.0.0.11"
        assert b.stats.errors("unavailable") >= 2
        await b.close()

    run(scenario())


def test_publisher_drops_stale_decisions(api: ApiServer) -> None:
    async def scenario() -> None:
        k = fast_api(api.url)
        await publish_routing(
            k, group="g", service=SERVICE, epoch=7, primary=_pod("a", "10.0.0.1"), leader="new"
        )
        pub = RoutingPublisher(k, {"g": SERVICE})
        task = asyncio.create_task(pub.run())
        pub.submit("g", 6, _pod("b", "10.0.0.2"), "old")
        await until(lambda: pub.stale == 1, what="stale refusal")
        assert "g" not in pub.pending and "g" not in pub.published
        task.cancel()
        k.close()

    run(scenario())


def test_publisher_forgets_deleted_groups(api: ApiServer) -> None:
    async def scenario() -> None:
        k = fast_api(api.url)
        pub = RoutingPublisher(k, {"g": SERVICE})
        task = asyncio.create_task(pub.run())
        del pub.service_for["g"]  # the ValkeyGroup went away with a decision pending
        pub.submit("g", 1, _pod("a", "10.0.0.1"), "l")
        await until(lambda: "g" not in pub.pending, what="pending dropped")
        assert not task.done() and not api.requests
        task.cancel()
        k.close()

    run(scenario())
