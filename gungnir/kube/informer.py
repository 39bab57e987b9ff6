"""List-then-watch cache of one kind of object, the way controllers follow the API.

The cache is read synchronously (``objects``), so the data plane never waits on the API: it
sees the last state the watch delivered. The watch resumes from the last resourceVersion it
saw after a stream ends or the connection drops (no relist, so a pod that restarts with a
new IP is simply a MODIFIED or DELETED+ADDED event); only a 410 Gone forces a relist, after
which the cache is diffed against the fresh list so subscribers still see plain events.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

from .api import KubeApi
from .errors import KubeError, KubeGone, classify, from_status

log = logging.getLogger(__name__)

Obj = dict[str, Any]
Handler = Callable[[str, Obj], None]


def _name(obj: Obj) -> str:
    return str(obj["metadata"]["name"])


class Informer:
    """Follow objects of one kind that match a selector; call ``handler(type, obj)``.

    ``list_fn`` is an official-client list method (``CoreV1Api.list_namespaced_pod``, or
    ``CustomObjectsApi.list_namespaced_custom_object``), ``args`` its positional arguments.
    ``resource`` names it for counters and RBAC.
    """

    def __init__(
        self,
        api: KubeApi,
        resource: str,
        list_fn: Callable[..., Any],
        *args: Any,
        label_selector: str | None = None,
        field_selector: str | None = None,
        handler: Handler | None = None,
        watch_timeout: int = 60,
        backoff_cap: float = 5.0,
    ) -> None:
        self.api = api
        self.resource = resource
        self.list_fn = list_fn
        self.args = args
        self.selectors: dict[str, Any] = {}
        if label_selector:
            self.selectors["label_selector"] = label_selector
        if field_selector:
            self.selectors["field_selector"] = field_selector
        self.handlers: list[Handler] = [handler] if handler else []
        self.watch_timeout = watch_timeout
        self.backoff_cap = backoff_cap
        self.objects: dict[str, Obj] = {}
        self.resource_version = ""
        self.synced = asyncio.Event()
        self.lists = 0  # how many times we had to (re)list
        self.watches = 0  # how many watch requests we opened
        self.last_error: KubeError | None = None
        self._resp: Any = None
        self._resp_lock = threading.Lock()
        self._stopping = False

    def subscribe(self, handler: Handler) -> None:
        self.handlers.append(handler)

    def _emit(self, typ: str, obj: Obj) -> None:
        for h in list(self.handlers):
            try:
                h(typ, obj)
            except Exception:  # a subscriber's bug must not stop the watch
                log.exception("informer handler failed for %s %s", typ, _name(obj))

    # -- list ----------------------------------------------------------------------------

    async def relist(self) -> None:
        body = await self.api.call(
            "list", self.resource, self.list_fn, *self.args, **self.selectors
        )
        self.lists += 1
        fresh = {_name(o): o for o in body.get("items") or []}
        old = self.objects
        self.objects = fresh
        self.resource_version = body["metadata"]["resourceVersion"]
        for name, obj in old.items():
            if name not in fresh:
                self._emit("DELETED", obj)
        for name, obj in fresh.items():
            prev = old.get(name)
            if prev is None:
                self._emit("ADDED", obj)
            elif prev["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                self._emit("MODIFIED", obj)
        self.synced.set()

    # -- watch ---------------------------------------------------------------------------

    def _stream(self, loop: asyncio.AbstractEventLoop, queue: asyncio.Queue[Any]) -> None:
        """Blocking: open one watch and push its events into ``queue`` (thread side)."""
        put = queue.put_nowait
        try:
            resp = self.list_fn(
                *self.args,
                watch=True,
                resource_version=self.resource_version,
                allow_watch_bookmarks=True,
                timeout_seconds=self.watch_timeout,
                _preload_content=False,
                _request_timeout=(self.api.request_timeout[0], self.watch_timeout + 10),
                **self.selectors,
            )
        except Exception as exc:
            loop.call_soon_threadsafe(put, classify(exc, f"watch {self.resource}"))
            return
        with self._resp_lock:
            self._resp = resp
            stopping = self._stopping
        buf = bytearray()
        try:
            if stopping:
                return
            for chunk in resp.stream(65536, decode_content=False):
                start = len(buf)
                buf += chunk
                # Only the new bytes can hold a newline we have not seen yet.
                while (end := buf.find(b"\n", start)) >= 0:
                    line = bytes(buf[:end])
                    del buf[: end + 1]
                    start = 0
                    if line.strip():
                        loop.call_soon_threadsafe(put, json.loads(line))
        except Exception as exc:
            if not self._stopping:
                loop.call_soon_threadsafe(put, classify(exc, f"watch {self.resource}"))
        finally:
            with self._resp_lock:
                self._resp = None
            resp.release_conn()
            loop.call_soon_threadsafe(put, None)

    async def _watch_once(self) -> None:
        """One watch stream, applied to the cache; raises KubeGone on 410."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Any] = asyncio.Queue()
        # A dedicated thread: a watch blocks for minutes and must not starve the shared
        # executor that every short API call uses.
        thread = threading.Thread(
            target=self._stream, args=(loop, queue), daemon=True, name=f"watch-{self.resource}"
        )
        thread.start()
        self.watches += 1
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                if isinstance(item, KubeError):
                    self.api.stats.count("watch", self.resource, item.kind, item.code)
                    raise item
                self._apply(item)
        finally:
            self._shutdown_stream()
            await asyncio.to_thread(thread.join, 5.0)

    def _apply(self, event: Obj) -> None:
        typ, obj = event.get("type"), event.get("object") or {}
        if typ == "ERROR":
            code = obj.get("code")
            if code == 410:
                raise KubeGone(str(obj.get("message", "watch expired")), 410, "Expired")
            raise classify_status(obj, self.resource)
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if rv:
            self.resource_version = rv
        if typ == "BOOKMARK":
            return
        name = _name(obj)
        if typ == "DELETED":
            self.objects.pop(name, None)
        else:
            self.objects[name] = obj
        self._emit(str(typ), obj)

    def _shutdown_stream(self) -> None:
        with self._resp_lock:
            resp = self._resp
        if resp is not None:
            try:
                resp.shutdown()  # unblocks the reading thread at once (urllib3 >= 2.3)
            except Exception:
                try:
                    resp.close()
                except Exception:
                    pass

    async def run(self) -> None:
        """List, then watch forever; survive API trouble with capped backoff."""
        failures = 0
        need_list = True
        while not self._stopping:
            try:
                if need_list:
                    await self.relist()
                    need_list = False
                await self._watch_once()
                failures = 0
                self.api.stats.count("watch", self.resource, "ok")
            except KubeGone:
                need_list = True  # our version is too old: start from a fresh list
                self.api.stats.count("watch", self.resource, "gone", 410)
            except KubeError as err:
                if self._stopping:
                    break
                self.last_error = err
                failures += 1
                delay = min(self.backoff_cap, 0.05 * 2 ** min(failures, 10))
                log.warning("watch %s failed (%s); retrying in %.2fs", self.resource, err, delay)
                await self.api.sleep(delay)

    def stop(self) -> None:
        with self._resp_lock:
            self._stopping = True
        self._shutdown_stream()


def classify_status(status: Obj, resource: str) -> KubeError:
    return from_status(int(status.get("code") or 500), status, None, f"watch {resource}")
