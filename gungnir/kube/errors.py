"""Typed errors for Kubernetes API trouble, so callers decide by type and never by parsing text.

The runtime must treat these differently: a conflict means someone wrote first (re-read and
decide again), forbidden means the RBAC is wrong (an operator must act; retrying won't help),
invalid means our request is wrong, unavailable means wait and try again later. Each error
carries the HTTP status (None for transport failures) and the API's ``reason``.
"""

from __future__ import annotations

import json
from typing import Any


class KubeError(Exception):
    """Base of every error the Kubernetes backend raises."""

    retryable = False

    def __init__(self, message: str, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.retry_after: float | None = None
        self.cause = ""  # for transport failures: "timeout" or "connection"

    @property
    def code(self) -> int | str:
        """The HTTP status, else ``timeout`` / ``connection`` (the metrics label)."""
        return self.status if self.status is not None else (self.cause or "other")

    @property
    def kind(self) -> str:
        """A short stable name for metrics labels (``conflict``, ``forbidden`` ...)."""
        return _KINDS.get(type(self), "error")


class KubeUnavailable(KubeError):
    """Timeouts, refused connections and 5xx: the API is not answering; try again later."""

    retryable = True


class KubeThrottled(KubeUnavailable):
    """429 Too Many Requests; ``retry_after`` holds the server's hint in seconds."""


class KubeConflict(KubeError):
    """409: the object changed since we read it (or already exists)."""


class KubeForbidden(KubeError):
    """401/403: the ServiceAccount lacks a permission; fix the RBAC, retrying will not help."""


class KubeInvalid(KubeError):
    """400/422: the API rejected the request's content."""


class KubeNotFound(KubeError):
    """404: no such object (or the CRD is not installed)."""


class KubeGone(KubeError):
    """410: a watch asked for a version the server no longer has; relist."""


class StaleEpoch(KubeError):
    """The API already holds a config from a newer epoch; this writer must stand down."""

    def __init__(self, message: str, ours: int, theirs: int) -> None:
        super().__init__(message, None, "StaleEpoch")
        self.ours = ours
        self.theirs = theirs


class ConflictingConfig(KubeError):
    """Two different primaries for one epoch: a protocol violation, never retried."""


_KINDS: dict[type[KubeError], str] = {
    KubeUnavailable: "unavailable",
    KubeThrottled: "throttled",
    KubeConflict: "conflict",
    KubeForbidden: "forbidden",
    KubeInvalid: "invalid",
    KubeNotFound: "not_found",
    KubeGone: "gone",
    StaleEpoch: "stale_epoch",
    ConflictingConfig: "conflicting_config",
}


def _status_message(body: Any) -> tuple[str, str]:
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if isinstance(body, str):
        try:
            body = json.loads(body)
        except ValueError:
            return body[:200], ""
    if isinstance(body, dict):
        return str(body.get("message", "")), str(body.get("reason", ""))
    return "", ""


def from_status(status: int, body: Any, headers: Any = None, what: str = "") -> KubeError:
    """Build the typed error for an HTTP status and its ``Status`` body."""
    message, reason = _status_message(body)
    text = f"{what}: {status} {reason}: {message}".strip(": ")
    cls: type[KubeError]
    if status == 409:
        cls = KubeConflict
    elif status in (401, 403):
        cls = KubeForbidden
    elif status in (400, 415, 422):
        cls = KubeInvalid
    elif status == 404:
        cls = KubeNotFound
    elif status == 410:
        cls = KubeGone
    elif status == 429:
        cls = KubeThrottled
    elif status >= 500 or status == 408:
        cls = KubeUnavailable
    else:
        cls = KubeError
    err = cls(text, status, reason)
    retry_after = None
    if headers is not None:
        try:
            retry_after = headers.get("Retry-After")
        except AttributeError:
            retry_after = None
    if retry_after is not None:
        try:
            err.retry_after = float(retry_after)
        except ValueError:
            pass
    return err


def classify(exc: BaseException, what: str = "") -> KubeError:
    """Map anything the official client or urllib3 raises onto our typed errors."""
    if isinstance(exc, KubeError):
        return exc
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status >= 100:
        return from_status(
            status,
            getattr(exc, "body", None) or getattr(exc, "data", None),
            getattr(exc, "headers", None),
            what,
        )
    err = KubeUnavailable(f"{what}: {type(exc).__name__}: {exc}".strip(": "))
    text = f"{type(exc).__name__} {exc}".lower()
    err.cause = "timeout" if "timeout" in text or "timed out" in text else "connection"
    return err
