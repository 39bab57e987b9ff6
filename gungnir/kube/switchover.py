"""Manual switchover through the ``gungnir.io/switchover`` annotation on a ValkeyGroup.

An operator (or ``gungnir failover``) sets the annotation to a pod name or ``any``. One
daemon acts on it: the runtime says which through ``should_act`` (the leader of the current
epoch, or a designated voter when there is none), so the voters do not all start competing
switchovers. Acting means handing the core a switchover command (``submit``), posting an
Event, and clearing the annotation with a value-tested patch, so a newer request made
meanwhile survives and is seen next.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

from . import events as ev
from .backend import KubeBackend
from .errors import KubeError

log = logging.getLogger(__name__)


class SwitchoverWatcher:
    """Turns switchover annotations into core commands, exactly once per request."""

    def __init__(
        self,
        backend: KubeBackend,
        submit: Callable[[str, str | None], None],
        should_act: Callable[[str], bool],
    ) -> None:
        self.backend = backend
        self.submit = submit
        self.should_act = should_act
        self.handled: dict[str, str] = {}  # group -> the request value last acted on
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        backend.subscribe(self._changed)

    def _changed(self, group: str, what: str) -> None:
        if what == "group":
            self._wake.set()

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self.run())

    async def check(self) -> None:
        """Act on every pending request this daemon should act on."""
        for group in list(self.backend.groups()):
            value = self.backend.switchover_request(group)
            if value is None:
                self.handled.pop(group, None)
                continue
            if self.handled.get(group) == value or not self.should_act(group):
                continue
            target = None if value == "any" else value
            if target is not None and target not in self.backend.pods(group):
                self.backend.event(
                    group,
                    "SwitchoverRefused",
                    f"no pod {target!r} in group {group!r}",
                    warning=True,
                )
            else:
                self.submit(group, target)
                self.backend.event(group, ev.SWITCHOVER, f"switchover to {value} requested")
            self.handled[group] = value
            try:
                await self.backend.ack_switchover(group, value)
            except KubeError as err:  # retried on the next change or check
                log.warning("switchover request on %s not cleared: %s", group, err)

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            await self.check()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
