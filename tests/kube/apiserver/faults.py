"""Fault injection and the request log.

A fault matches on HTTP method and a regular expression over the path (query string
excluded), optionally only on watch requests, and fires ``times`` times (None: until removed).
It can delay the request, answer with an error status, or both. Status 410 on a watch is sent
the way the real API server sends it: HTTP 200 and an ``ERROR`` event carrying the Status.
"""

from __future__ import annotations

import re
import threading
from dataclasses import dataclass, field


@dataclass
class Fault:
    method: str = "*"
    path: str = ".*"
    status: int | None = None
    delay: float = 0.0
    times: int | None = None
    watch: bool | None = None  # None: any request; True: only watches; False: never watches
    message: str = "injected fault"
    retry_after: int | None = None
    fired: int = 0

    def matches(self, method: str, path: str, is_watch: bool) -> bool:
        if self.method not in ("*", method):
            return False
        if self.watch is not None and self.watch != is_watch:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        return re.search(self.path, path) is not None


@dataclass(frozen=True)
class Request:
    """One request as the RBAC check sees it (the verb is Kubernetes', not HTTP's)."""

    method: str
    path: str
    verb: str
    group: str
    resource: str  # includes the subresource, e.g. "valkeygroups/status"
    namespace: str
    name: str
    status: int
    agent: str = ""


@dataclass
class Faults:
    lock: threading.Lock = field(default_factory=threading.Lock)
    active: list[Fault] = field(default_factory=list)

    def add(self, fault: Fault) -> Fault:
        with self.lock:
            self.active.append(fault)
        return fault

    def remove(self, fault: Fault) -> None:
        with self.lock:
            if fault in self.active:
                self.active.remove(fault)

    def clear(self) -> None:
        with self.lock:
            self.active.clear()

    def take(self, method: str, path: str, is_watch: bool) -> Fault | None:
        with self.lock:
            for f in self.active:
                if f.matches(method, path, is_watch):
                    f.fired += 1
                    return f
        return None
