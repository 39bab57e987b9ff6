"""A Kubernetes API server emulator that the unchanged official client talks to over HTTP.

No kube-apiserver can be installed on the test machines, so the tests need a stand-in that is
faithful where our correctness depends on it: resourceVersion preconditions (409), patches,
selectors, watch streams with resume and 410, status subresources, CRD schemas (422), Status
bodies. Everything else (auth, admission, garbage collection, pagination) is out of scope.
"""

from __future__ import annotations

import copy
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .faults import Fault, Faults, Request
from .patches import PatchError, apply_patch
from .selectors import SelectorError, parse_field_selector, parse_label_selector
from .store import ApiError, Kind, Store
from .validation import validate


def status_body(
    code: int, reason: str, message: str, details: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    }
    if details:
        body["details"] = details
    return body


class _Target:
    """A parsed request path."""

    def __init__(self, kind: Kind, namespace: str, name: str, sub: str) -> None:
        self.kind, self.namespace, self.name, self.sub = kind, namespace, name, sub

    @property
    def resource(self) -> str:
        return f"{self.kind.plural}/{self.sub}" if self.sub else self.kind.plural


class ApiServer:
    """The emulator: ``with ApiServer() as api: api.url`` (http://127.0.0.1:<port>)."""

    def __init__(self, history_size: int = 10_000, pod_churn: float | None = None) -> None:
        """``pod_churn``: every that many seconds, each pod's status is rewritten the way a
        kubelet's status sync does (new resourceVersion, labels untouched), so a writer
        holding a cached version gets 409 Conflict as on a real cluster."""
        self.store = Store(history_size=history_size)
        self.pod_churn = pod_churn
        self.churned = 0
        self._churn_stop = threading.Event()
        self._churner: threading.Thread | None = None
        self.faults = Faults()
        self.requests: list[Request] = []
        self._log_lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ApiServer:
        handler = type("Handler", (_Handler,), {"api": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        if self.pod_churn and self._churner is None:
            self._churner = threading.Thread(target=self._churn_loop, daemon=True)
            self._churner.start()
        return self

    def stop_listening(self) -> None:
        """Take the API down (connections are refused) while keeping every object."""
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None
            with self._log_lock:  # drop kept-alive connections too: the server is gone
                for conn in list(self._conns):
                    try:
                        conn.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
            with self.store.cond:
                self.store.cond.notify_all()

    def resume(self) -> None:
        """Bring the API back on the same port."""
        if self._httpd is None:
            self.start()

    def stop(self) -> None:
        self._churn_stop.set()
        if self._churner is not None:
            self._churner.join(5)
        self.store.close()
        self.stop_listening()

    def __enter__(self) -> ApiServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def down(self) -> bool:
        return self._httpd is None

    # -- test helpers ------------------------------------------------------------------

    def churn_pods(self, names: list[str] | None = None) -> int:
        """One kubelet status sync on every pod (or those ``names``): ``status.conditions``
        gets a fresh probe time, so the pod's resourceVersion moves. Returns how many
        pods changed."""
        kind = self.store.kind("", "v1", "pods")
        stamp = f"{time.time():.6f}"
        n = 0
        with self.store.cond:
            for key, obj in list(self.store._bucket(kind).items()):
                if names is not None and key[1] not in names:
                    continue
                new = copy.deepcopy(obj)
                status = new.setdefault("status", {})
                conds = [c for c in status.get("conditions") or [] if c.get("type") != "Synced"]
                conds.append({"type": "Synced", "status": "True", "lastProbeTime": stamp})
                status["conditions"] = conds
                self.store.replace(kind, key, new, None)
                n += 1
        self.churned += n
        return n

    def _churn_loop(self) -> None:
        assert self.pod_churn is not None
        while not self._churn_stop.wait(self.pod_churn):
            if not self.store.closed:
                self.churn_pods()

    def inject(self, **kwargs: Any) -> Fault:
        return self.faults.add(Fault(**kwargs))

    @contextmanager
    def fault(self, **kwargs: Any) -> Iterator[Fault]:
        f = self.inject(**kwargs)
        try:
            yield f
        finally:
            self.faults.remove(f)

    def track(self, conn: socket.socket, alive: bool) -> None:
        with self._log_lock:
            if alive:
                self._conns.add(conn)
            else:
                self._conns.discard(conn)

    def log(self, req: Request) -> None:
        with self._log_lock:
            self.requests.append(req)

    def calls(self, agent: str | None = None) -> set[tuple[str, str, str]]:
        """The distinct (apiGroup, resource, verb) triples requested so far (by clients whose
        User-Agent starts with ``agent``, if given)."""
        with self._log_lock:
            return {
                (r.group, r.resource, r.verb)
                for r in self.requests
                if agent is None or r.agent.startswith(agent)
            }

    # -- request handling (called from handler threads) ----------------------------------

    def parse(self, path: str) -> _Target:
        parts = [p for p in path.split("/") if p]
        if parts[:1] == ["api"] and len(parts) >= 2:
            group, version, rest = "", parts[1], parts[2:]
        elif parts[:1] == ["apis"] and len(parts) >= 3:
            group, version, rest = parts[1], parts[2], parts[3:]
        else:
            raise ApiError(404, "NotFound", f"the server could not find {path}")
        namespace = ""
        if len(rest) >= 3 and rest[0] == "namespaces":
            namespace, rest = rest[1], rest[2:]
        if not rest or len(rest) > 3:
            raise ApiError(404, "NotFound", f"the server could not find {path}")
        kind = self.store.kind(group, version, rest[0])
        name = rest[1] if len(rest) > 1 else ""
        sub = rest[2] if len(rest) > 2 else ""
        if sub and (sub != "status" or not kind.status):
            raise ApiError(404, "NotFound", f"no subresource {sub} on {kind.plural}")
        if kind.namespaced != bool(namespace) and name:
            raise ApiError(404, "NotFound", f"{kind.plural} scope mismatch in {path}")
        return _Target(kind, namespace, name, sub)

    def create(self, t: _Target, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body must be a JSON object")
        meta = body.setdefault("metadata", {})
        if not meta.get("name") and meta.get("generateName"):
            meta["name"] = meta["generateName"] + uuid.uuid4().hex[:5]
        obj = validate(t.kind, body, t.namespace)
        obj["metadata"].pop("resourceVersion", None)
        if t.kind.status:
            obj["status"] = {"phase": "Pending"} if t.kind.plural == "pods" else {}
        return self.store.create(t.kind, obj)

    def update(self, t: _Target, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise ApiError(400, "BadRequest", "the body must be a JSON object")
        if (body.get("metadata") or {}).get("name") != t.name:
            raise ApiError(
                400, "BadRequest", "the name of the object does not match the name on the URL"
            )
        expect = (body.get("metadata") or {}).get("resourceVersion") or None
        return self._write(t, body, expect)

    def patch(self, t: _Target, ctype: str, patch: Any) -> dict[str, Any]:
        with self.store.cond:  # read-patch-write is atomic, as the real server retries it
            return self._patch(t, ctype, patch)

    def _patch(self, t: _Target, ctype: str, patch: Any) -> dict[str, Any]:
        current = self.store.get(t.kind, (t.namespace, t.name))
        try:
            new = apply_patch(ctype, current, patch)
        except PatchError as e:
            code = 415 if "content type" in str(e) else 422
            raise ApiError(
                code, "UnsupportedMediaType" if code == 415 else "Invalid", str(e)
            ) from None
        if not isinstance(new, dict):
            raise ApiError(422, "Invalid", "the patch produced a non-object")
        new_rv = (new.get("metadata") or {}).get("resourceVersion")
        cur_rv = current["metadata"]["resourceVersion"]
        # A patch is checked against the version it names (if any), else the version it read.
        expect = new_rv if new_rv and new_rv != cur_rv else cur_rv
        return self._write(t, new, expect)

    def _write(self, t: _Target, body: dict[str, Any], expect: str | None) -> dict[str, Any]:
        current = self.store.get(t.kind, (t.namespace, t.name))
        obj = validate(t.kind, body, t.namespace)
        if t.kind.status:
            if t.sub == "status":  # only status changes through /status
                obj = copy.deepcopy(current) | {"status": obj.get("status", {})}
            else:  # and status never changes through the main resource
                obj["status"] = current.get("status", {})
        return self.store.replace(t.kind, (t.namespace, t.name), obj, expect)

    def list(self, t: _Target, q: dict[str, str]) -> dict[str, Any]:
        labels = parse_label_selector(q.get("labelSelector"))
        fields = parse_field_selector(q.get("fieldSelector"))
        items, rv = self.store.list(
            t.kind, t.namespace if t.kind.namespaced and t.namespace else None
        )
        items = [o for o in items if labels(o) and fields(o)]
        return {
            "kind": f"{t.kind.kind}List",
            "apiVersion": t.kind.api_version,
            "metadata": {"resourceVersion": str(rv)},
            "items": items,
        }


class _Handler(BaseHTTPRequestHandler):
    api: ApiServer
    protocol_version = "HTTP/1.1"
    _logged = False
    _target: _Target | None = None

    def setup(self) -> None:
        super().setup()
        self.api.track(self.connection, True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.api.track(self.connection, False)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    def _send(self, code: int, body: dict[str, Any], extra: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode()
        if self._target is not None and not self._logged:  # log before the client can see it
            self._record(self._target, self.command, urlsplit(self.path).path, False, code)
        self.send_response(code)
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _body(self) -> Any:
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        if not raw:
            return None
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(400, "BadRequest", "the body is not valid JSON") from None

    def _handle(self, method: str) -> None:
        url = urlsplit(self.path)
        q = {k: v[-1] for k, v in parse_qs(url.query).items()}
        is_watch = method == "GET" and q.get("watch") in ("true", "1")
        self._logged = False
        self._target = None
        code = 500
        target: _Target | None = None
        try:
            try:
                target = self._target = self.api.parse(url.path)
            finally:
                fault = self.api.faults.take(method, url.path, is_watch)
            body = self._body() if method in ("POST", "PUT", "PATCH") else None
            if fault is not None:
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.status is not None:
                    if fault.status == 410 and is_watch:
                        code = 200
                        self._stream_error(ApiError(410, "Expired", fault.message))
                        return
                    details = (
                        {}
                        if fault.retry_after is None
                        else {"retryAfterSeconds": fault.retry_after}
                    )
                    raise ApiError(
                        fault.status,
                        _REASONS.get(fault.status, "InternalError"),
                        fault.message,
                        details,
                    )
            code, result = self._dispatch(method, target, q, body, is_watch)
            if result is not None:
                self._send(code, result)
        except ApiError as e:
            code = e.code
            extra = {}
            if "retryAfterSeconds" in e.details:
                extra["Retry-After"] = str(e.details["retryAfterSeconds"])
            self._send(e.code, status_body(e.code, e.reason, e.message, e.details or None), extra)
        except (SelectorError, ValueError) as e:
            code = 400
            self._send(400, status_body(400, "BadRequest", str(e)))
        except (BrokenPipeError, ConnectionResetError):
            pass
        finally:
            if target is not None and not self._logged:
                self._record(target, method, url.path, is_watch, code)

    def _record(self, target: _Target, method: str, path: str, is_watch: bool, code: int) -> None:
        """Log the request once (a watch is logged when its stream starts, since it may
        outlive the test that opened it)."""
        self._logged = True
        verb = {
            "GET": "watch" if is_watch else ("get" if target.name else "list"),
            "POST": "create",
            "PUT": "update",
            "PATCH": "patch",
            "DELETE": "delete",
        }[method]
        self.api.log(
            Request(
                method,
                path,
                verb,
                target.kind.group,
                target.resource,
                target.namespace,
                target.name,
                code,
                self.headers.get("User-Agent", ""),
            )
        )

    def _dispatch(
        self, method: str, t: _Target, q: dict[str, str], body: Any, is_watch: bool
    ) -> tuple[int, dict[str, Any] | None]:
        key = (t.namespace, t.name)
        if method == "GET":
            if t.name:
                return 200, self.api.store.get(t.kind, key)
            if is_watch:
                self._watch(t, q)
                return 200, None
            return 200, self.api.list(t, q)
        if method == "POST":
            if t.name:
                raise ApiError(405, "MethodNotAllowed", "POST to a named resource")
            return 201, self.api.create(t, body)
        if not t.name:
            raise ApiError(405, "MethodNotAllowed", f"{method} needs a resource name")
        if method == "PUT":
            return 200, self.api.update(t, body)
        if method == "PATCH":
            return 200, self.api.patch(t, self.headers.get("Content-Type", ""), body)
        pre = (
            ((body or {}).get("preconditions") or {}).get("resourceVersion")
            if isinstance(body, dict)
            else None
        )
        return 200, self.api.store.delete(t.kind, key, pre)

    # -- watch -------------------------------------------------------------------------

    def _start_stream(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _chunk(self, event: dict[str, Any]) -> None:
        data = json.dumps(event).encode() + b"\n"
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _end_stream(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _stream_error(self, e: ApiError) -> None:
        self._start_stream()
        self._chunk({"type": "ERROR", "object": status_body(e.code, e.reason, e.message)})
        self._end_stream()

    def _watch(self, t: _Target, q: dict[str, str]) -> None:
        store = self.api.store
        labels = parse_label_selector(q.get("labelSelector"))
        fields = parse_field_selector(q.get("fieldSelector"))

        def selected(obj: dict[str, Any] | None) -> bool:
            if obj is None:
                return False
            if (
                t.kind.namespaced
                and t.namespace
                and obj["metadata"].get("namespace") != t.namespace
            ):
                return False
            if t.name and obj["metadata"].get("name") != t.name:
                return False
            return labels(obj) and fields(obj)

        timeout = float(q.get("timeoutSeconds") or 1800)
        deadline = time.monotonic() + timeout
        rv_text = q.get("resourceVersion") or ""
        if rv_text in ("", "0"):
            items, last = store.list(t.kind, t.namespace or None)
            initial = [o for o in items if selected(o)]
        else:
            try:
                last = int(rv_text)
            except ValueError:
                raise ApiError(400, "BadRequest", f"invalid resourceVersion {rv_text!r}") from None
            initial = []
        self._record(t, "GET", urlsplit(self.path).path, True, 200)
        bookmarks = q.get("allowWatchBookmarks") in ("true", "1")
        sent = time.monotonic()
        self._start_stream()
        for obj in initial:
            self._chunk({"type": "ADDED", "object": obj})
        while True:
            try:
                with store.cond:  # the horizon and the changes up to it, read atomically
                    horizon = store.rv
                    changes = store.changes_after(t.kind, last)
            except ApiError as e:
                self._chunk({"type": "ERROR", "object": status_body(e.code, e.reason, e.message)})
                break
            for c in changes:
                last = c.rv
                was, now = selected(c.old), selected(c.new)
                if c.type == "DELETED":
                    typ = "DELETED" if was else None
                elif was and now:
                    typ = "MODIFIED"
                elif now:
                    typ = "ADDED"
                elif was:
                    typ = "DELETED"
                else:
                    typ = None
                if typ is not None:
                    self._chunk({"type": typ, "object": c.new})
            last = max(last, horizon)
            if bookmarks and time.monotonic() - sent >= BOOKMARK_EVERY:
                # Tells the client how far it has seen, and finds clients that went away
                # (the write fails) instead of holding their thread until the timeout.
                self._chunk(
                    {
                        "type": "BOOKMARK",
                        "object": {
                            "kind": t.kind.kind,
                            "apiVersion": t.kind.api_version,
                            "metadata": {"resourceVersion": str(last)},
                        },
                    }
                )
                sent = time.monotonic()
            with store.cond:
                if store.closed or self.api.down or time.monotonic() >= deadline:
                    break
                if store.rv == horizon:
                    store.cond.wait(min(0.5, max(0.0, deadline - time.monotonic())))
        self._end_stream()


BOOKMARK_EVERY = 1.0  # seconds between BOOKMARK events on watches that allow them

_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    422: "Invalid",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}
