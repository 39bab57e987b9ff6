"""The one door to the Kubernetes API: configuration, threads, retries, typed errors, counters.

Every call goes through :meth:`KubeApi.call`, which runs the official client's blocking
request in a worker thread (``asyncio.to_thread``), decodes the JSON body into plain dicts
(the generated model classes are slow and add nothing we use), retries what is worth retrying
with capped, jittered exponential backoff inside a deadline, and counts every outcome in
:class:`ApiStats`, which the metrics layer reads. urllib3's own retries are switched off so
the deadline is ours: an API outage fails fast with :class:`KubeUnavailable` instead of
blocking a caller for minutes.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes import client, config

from .errors import KubeError, classify

USER_AGENT = "gungnir-kube/1"
SA_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

Clock = Callable[[], float]
Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class RetryPolicy:
    """How hard one call tries: at most ``attempts`` tries, all within ``deadline`` seconds."""

    attempts: int = 4
    base: float = 0.05
    cap: float = 1.0
    deadline: float = 5.0

    def delay(self, attempt: int, rand: float, hint: float | None = None) -> float:
        """Backoff before retry ``attempt`` (1-based): exponential, capped, half-jittered.

        A server ``Retry-After`` hint wins over the schedule, but never exceeds the cap.
        """
        if hint is not None:
            return min(max(hint, 0.0), self.cap)
        return min(self.cap, self.base * 2.0 ** (attempt - 1)) * (0.5 + rand / 2)


@dataclass
class ApiStats:
    """Counters of API calls by (verb, resource, outcome); ``outcome`` is ``ok`` or an error
    kind. ``hook(verb, resource, outcome, code)`` (if set) sees every count; ``code`` is the
    HTTP status or ``timeout``/``connection`` for failures, None for successes (what
    ``Metrics.kube_api_error`` takes)."""

    counts: dict[tuple[str, str, str], int] = field(default_factory=dict)
    retries: int = 0
    hook: Callable[[str, str, str, int | str | None], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def count(self, verb: str, resource: str, outcome: str, code: int | str | None = None) -> None:
        with self._lock:
            key = (verb, resource, outcome)
            self.counts[key] = self.counts.get(key, 0) + 1
        if self.hook is not None:
            self.hook(verb, resource, outcome, code)

    def errors(self, kind: str | None = None) -> int:
        """How many calls failed (with this error kind, if given)."""
        with self._lock:
            return sum(
                n
                for (_, _, o), n in self.counts.items()
                if o != "ok" and (kind is None or o == kind)
            )

    def snapshot(self) -> dict[tuple[str, str, str], int]:
        with self._lock:
            return dict(self.counts)


def error_hook(
    record: Callable[[int | str], None],
) -> Callable[[str, str, str, int | str | None], None]:
    """An :attr:`ApiStats.hook` that passes each failure's code to ``record`` (for example
    ``Metrics.kube_api_error``); successes are not recorded."""

    def hook(verb: str, resource: str, outcome: str, code: int | str | None) -> None:
        if outcome != "ok" and code is not None:
            record(code)

    return hook


def load_configuration(
    host: str | None = None, kubeconfig: str | None = None, context: str | None = None
) -> client.Configuration:
    """In-cluster config by default; an explicit host (tests) or a kubeconfig when given."""
    cfg = client.Configuration()
    if host is not None:
        cfg.host = host
    elif kubeconfig is not None or context is not None:
        config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=kubeconfig, context=context, client_configuration=cfg
        )
    else:
        config.load_incluster_config(client_configuration=cfg)  # type: ignore[no-untyped-call]
    cfg.retries = False  # our RetryPolicy owns retries and their deadline
    return cfg


def default_namespace() -> str:
    try:
        with open(SA_NAMESPACE) as f:
            return f.read().strip() or "default"
    except OSError:
        return os.environ.get("POD_NAMESPACE", "default")


class KubeApi:
    """Async access to the API with retries, typed errors and counters.

    ``clock`` and ``sleep`` are injectable so tests control time; ``rand`` feeds the jitter.
    """

    def __init__(
        self,
        host: str | None = None,
        *,
        kubeconfig: str | None = None,
        context: str | None = None,
        namespace: str | None = None,
        retry: RetryPolicy | None = None,
        request_timeout: tuple[float, float] = (2.0, 5.0),
        clock: Clock = time.monotonic,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
        stats: ApiStats | None = None,
        configuration: client.Configuration | None = None,
    ) -> None:
        cfg = configuration or load_configuration(host, kubeconfig, context)
        self.client = client.ApiClient(cfg)
        self.client.user_agent = USER_AGENT
        self.core = client.CoreV1Api(self.client)
        self.discovery = client.DiscoveryV1Api(self.client)
        self.custom = client.CustomObjectsApi(self.client)
        self.namespace = namespace or default_namespace()
        self.retry = retry or RetryPolicy()
        self.request_timeout = request_timeout
        self.clock = clock
        self.sleep = sleep
        self.rand = rand
        self.stats = stats or ApiStats()

    def close(self) -> None:
        self.client.close()  # type: ignore[no-untyped-call]

    def _once(self, fn: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        resp = fn(*args, _preload_content=False, _request_timeout=self.request_timeout, **kwargs)
        try:
            data = resp.data
        finally:
            resp.release_conn()
        return json.loads(data) if data else None

    async def call(
        self,
        verb: str,
        resource: str,
        fn: Callable[..., Any],
        *args: Any,
        retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run ``fn(*args, **kwargs)`` (an official-client method) and return the JSON body.

        ``verb`` and ``resource`` (RBAC terms, e.g. ``update`` / ``endpointslices``) label the
        counters. Raises a :class:`KubeError` subclass once retries are exhausted or the
        error is not worth retrying.
        """
        policy = retry or self.retry
        start = self.clock()
        attempt = 0
        while True:
            attempt += 1
            try:
                result = await asyncio.to_thread(self._once, fn, args, kwargs)
            except Exception as exc:  # every failure becomes a typed KubeError
                err = classify(exc, f"{verb} {resource}")
                self.stats.count(verb, resource, err.kind, err.code)
                if not err.retryable or attempt >= policy.attempts:
                    raise err from None
                delay = policy.delay(attempt, self.rand(), err.retry_after)
                if self.clock() + delay - start > policy.deadline:
                    raise err from None
                self.stats.retries += 1
                await self.sleep(delay)
                continue
            self.stats.count(verb, resource, "ok")
            return result

    async def call_raw(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Start a streaming call (a watch) and return the urllib3 response, unread."""
        return await asyncio.to_thread(fn, *args, _preload_content=False, **kwargs)


__all__ = [
    "ApiStats",
    "KubeApi",
    "KubeError",
    "RetryPolicy",
    "error_hook",
    "load_configuration",
]
