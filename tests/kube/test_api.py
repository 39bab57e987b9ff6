"""The API door: typed errors, retries with capped backoff inside a deadline, counters."""

from __future__ import annotations

import pytest
from kubernetes import client

from gungnir.kube import (
    KubeConflict,
    KubeForbidden,
    KubeInvalid,
    KubeNotFound,
    KubeThrottled,
    KubeUnavailable,
    RetryPolicy,
)
from gungnir.kube.errors import classify, from_status

from .apiserver import ApiServer
from .conftest import NS, fast_api, pod, run


class FakeTime:
    """An injected clock: sleeping advances it, nothing really waits."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, d: float) -> None:
        self.sleeps.append(d)
        self.now += d


@pytest.mark.parametrize(
    ("status", "cls", "retryable"),
    [
        (403, KubeForbidden, False),
        (401, KubeForbidden, False),
        (404, KubeNotFound, False),
        (409, KubeConflict, False),
        (422, KubeInvalid, False),
        (429, KubeThrottled, True),
        (500, KubeUnavailable, True),
        (503, KubeUnavailable, True),
    ],
)
def test_from_status(status: int, cls: type, retryable: bool) -> None:
    err = from_status(status, '{"reason": "R", "message": "m"}', {"Retry-After": "3"}, "get pods")
    assert type(err) is cls and err.retryable is retryable
    assert err.status == status and err.reason == "R" and "get pods" in str(err)
    assert err.retry_after == 3.0


def test_transport_errors_are_unavailable() -> None:
    err = classify(ConnectionRefusedError("refused"), "list pods")
    assert isinstance(err, KubeUnavailable) and err.status is None and "refused" in str(err)
    assert err.code == "connection"
    assert classify(TimeoutError("timed out")).code == "timeout"
    assert from_status(503, "").code == 503


def test_retry_policy_is_capped() -> None:
    p = RetryPolicy(base=0.1, cap=1.0)
    assert [p.delay(n, 1.0) for n in (1, 2, 3, 4, 5)] == [0.1, 0.2, 0.4, 0.8, 1.0]
    assert p.delay(3, 0.0) == pytest.approx(0.2)  # half jitter: never below half
    assert p.delay(1, 0.5, hint=30.0) == 1.0  # a Retry-After hint, capped


def test_5xx_is_retried_then_succeeds(api: ApiServer, kc: client.ApiClient) -> None:
    client.CoreV1Api(kc).create_namespaced_pod(NS, pod("a"))
    ft = FakeTime()
    k = fast_api(
        api.url,
        clock=ft.clock,
        sleep=ft.sleep,
        retry=RetryPolicy(attempts=4, base=0.1, cap=1.0, deadline=10),
    )
    with api.fault(method="GET", path="/pods/a$", status=500, times=2):
        got = run(k.call("get", "pods", k.core.read_namespaced_pod, "a", NS))
    assert got["metadata"]["name"] == "a"
    assert len(ft.sleeps) == 2 and ft.sleeps[1] > ft.sleeps[0] / 2
    assert k.stats.snapshot() == {("get", "pods", "unavailable"): 2, ("get", "pods", "ok"): 1}
    k.close()


def test_429_honours_retry_after_and_gives_up_typed(api: ApiServer) -> None:
    ft = FakeTime()
    k = fast_api(
        api.url,
        clock=ft.clock,
        sleep=ft.sleep,
        retry=RetryPolicy(attempts=3, base=0.01, cap=0.5, deadline=10),
    )
    with api.fault(method="GET", status=429, retry_after=2):
        with pytest.raises(KubeThrottled) as e:
            run(k.call("list", "pods", k.core.list_namespaced_pod, NS))
    assert e.value.retry_after == 2.0
    assert ft.sleeps == [0.5, 0.5]  # the hint, capped; then out of attempts
    assert k.stats.errors("throttled") == 3
    k.close()


def test_deadline_bounds_retries(api: ApiServer) -> None:
    ft = FakeTime()
    k = fast_api(
        api.url,
        clock=ft.clock,
        sleep=ft.sleep,
        retry=RetryPolicy(attempts=100, base=0.4, cap=0.4, deadline=1.0),
    )
    with api.fault(status=503):
        with pytest.raises(KubeUnavailable):
            run(k.call("list", "pods", k.core.list_namespaced_pod, NS))
    assert sum(ft.sleeps) <= 1.0 and len(ft.sleeps) < 5
    k.close()


@pytest.mark.parametrize(
    ("status", "cls"), [(403, KubeForbidden), (422, KubeInvalid), (409, KubeConflict)]
)
def test_client_errors_are_not_retried(api: ApiServer, status: int, cls: type) -> None:
    ft = FakeTime()
    k = fast_api(api.url, clock=ft.clock, sleep=ft.sleep)
    with api.fault(method="GET", status=status):
        with pytest.raises(cls):
            run(k.call("list", "pods", k.core.list_namespaced_pod, NS))
    assert ft.sleeps == [] and len(api.requests) == 1
    k.close()


def test_hook_sees_every_outcome(api: ApiServer) -> None:
    seen: list[tuple] = []
    k = fast_api(api.url)
    k.stats.hook = lambda *key: seen.append(key)
    run(k.call("list", "pods", k.core.list_namespaced_pod, NS))
    with api.fault(status=403), pytest.raises(KubeForbidden):
        run(k.call("list", "pods", k.core.list_namespaced_pod, NS))
    api.stop_listening()
    with pytest.raises(KubeUnavailable):
        run(k.call("list", "pods", k.core.list_namespaced_pod, NS))
    assert seen[:2] == [("list", "pods", "ok", None), ("list", "pods", "forbidden", 403)]
    assert set(seen[2:]) == {("list", "pods", "unavailable", "connection")}
    k.close()


def test_api_down_fails_fast(api: ApiServer) -> None:
    k = fast_api(api.url)
    api.stop_listening()
    with pytest.raises(KubeUnavailable) as e:
        run(k.call("list", "pods", k.core.list_namespaced_pod, NS), timeout=5)
    assert "list pods" in str(e.value)
    api.resume()
    assert run(k.call("list", "pods", k.core.list_namespaced_pod, NS))["items"] == []
    k.close()


def test_a_slow_api_times_out_typed(api: ApiServer) -> None:
    k = fast_api(api.url, request_timeout=(1.0, 0.3), retry=RetryPolicy(attempts=1))
    with api.fault(method="GET", delay=1.0, times=1):
        with pytest.raises(KubeUnavailable) as e:
            run(k.call("list", "pods", k.core.list_namespaced_pod, NS))
    assert e.value.code == "timeout"
    k.close()


def test_errors_reach_the_runtime_metrics(api: ApiServer) -> None:
    from prometheus_client import CollectorRegistry

    from gungnir.kube.api import error_hook
    from gungnir.runtime.metrics import Metrics

    reg = CollectorRegistry()
    metrics = Metrics(reg, process_metrics=False)
    k = fast_api(api.url, retry=RetryPolicy(attempts=1))
    k.stats.hook = error_hook(metrics.kube_api_error)
    run(k.call("list", "pods", k.core.list_namespaced_pod, NS))
    with api.fault(status=403), pytest.raises(KubeForbidden):
        run(k.call("list", "pods", k.core.list_namespaced_pod, NS))
    api.stop_listening()
    with pytest.raises(KubeUnavailable):
        run(k.call("list", "pods", k.core.list_namespaced_pod, NS))
    value = reg.get_sample_value
    assert value("gungnir_kubernetes_api_errors_total", {"code": "403"}) == 1
    assert value("gungnir_kubernetes_api_errors_total", {"code": "connection"}) == 1
    k.close()
