"""Explicit batches: :class:`Pipeline` (one write, replies per position) and
:class:`Transaction` (MULTI ... EXEC, optionally guarded by WATCH).

Both queue commands through the same typed helpers as a connection (``pipe.set(k, v)``
returns the pipeline, so calls chain) and send everything with one ``pack_commands`` and
one FIFO entry, so a batch of 10k commands costs one future, not 10k.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import repeat
from typing import TYPE_CHECKING, Any

from ..resp import ExecAbortError, ReplyError
from ._guard import check_raw
from .commands import CommandsMixin, _is_ok
from .errors import WatchError

if TYPE_CHECKING:
    from .connection import Connection

__all__ = ["Pipeline", "Transaction"]


def _name(args: tuple[Any, ...]) -> str:
    first = args[0] if args else b"?"
    return first.decode("utf-8", "replace") if isinstance(first, bytes) else str(first)


_ERRORS = (ReplyError, UnicodeDecodeError)


def _finish(
    replies: list[Any],
    args: list[tuple[Any, ...]],
    cbs: dict[int, Callable[[Any], Any]],
    raise_on_error: bool,
    where: str,
) -> list[Any]:
    """Apply the transforms (``cbs``: position -> function); errors stay in place or the
    first one is raised, with a note naming its position and command."""
    first_error = -1
    # any(map(isinstance, ...)) scans in C; the index is only looked for on the rare hit.
    if any(map(isinstance, replies, repeat(_ERRORS))):
        first_error = next(i for i, r in enumerate(replies) if isinstance(r, _ERRORS))
    if first_error >= 0 and raise_on_error:
        err = replies[first_error]
        err.add_note(f"raised by command #{first_error} ({_name(args[first_error])}) of a {where}")
        raise err
    if not cbs:
        return replies
    if first_error < 0:  # no errors anywhere: no per-reply checks
        for i, cb in cbs.items():
            replies[i] = True if cb is _is_ok and replies[i] is not None else cb(replies[i])
    else:
        for i, cb in cbs.items():
            r = replies[i]
            if not isinstance(r, _ERRORS):
                replies[i] = cb(r)
    return replies


class Pipeline(CommandsMixin):
    """Commands queued locally and sent in one write by :meth:`execute`.

    Not atomic (other clients' commands may run in between); see :class:`Transaction`.
    With ``raise_on_error`` the first error reply is raised (with a note naming its
    position) after all replies are read; otherwise errors are returned in place.
    """

    def __init__(self, conn: Connection, *, raise_on_error: bool = True) -> None:
        self._conn = conn
        self.raise_on_error = raise_on_error
        self._args: list[tuple[Any, ...]] = []
        self._cbs: dict[int, Callable[[Any], Any]] = {}

    def _cmd(self, args: tuple[Any, ...], cb: Callable[[Any], Any] | None) -> Pipeline:
        if cb is not None:
            self._cbs[len(self._args)] = cb
        self._args.append(args)
        return self

    def get(self, key: Any) -> Pipeline:
        # The most pipelined command of all, queued without the generic helper hop.
        self._args.append(("GET", key))
        return self

    def set(self, key: Any, value: Any, **options: Any) -> Pipeline:
        """SET, as :meth:`CommandsMixin.set`; the option-free form is queued directly."""
        if options:
            queued: Pipeline = CommandsMixin.set(self, key, value, **options)
            return queued
        self._cbs[len(self._args)] = _is_ok
        self._args.append(("SET", key, value))
        return self

    def execute_command(self, *args: Any) -> Pipeline:
        """Queue a raw command; its reply is returned unchanged."""
        check_raw(args)
        self._args.append(args)
        return self

    def __len__(self) -> int:
        return len(self._args)

    def reset(self) -> None:
        self._args = []
        self._cbs = {}

    def _take(self) -> tuple[list[tuple[Any, ...]], dict[int, Callable[[Any], Any]]]:
        args, cbs = self._args, self._cbs
        self._args, self._cbs = [], {}
        return args, cbs

    async def execute(self, *, raise_on_error: bool | None = None) -> list[Any]:
        """Send the queued commands; the list of their replies, in order."""
        args, cbs = self._take()
        if not args:
            return []
        replies = await self._conn._batch(args)
        roe = self.raise_on_error if raise_on_error is None else raise_on_error
        return _finish(replies, args, cbs, roe, "pipeline")

    async def __aenter__(self) -> Pipeline:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.reset()


class Transaction(Pipeline):
    """MULTI, the queued commands and EXEC, sent in one write.

    Use :meth:`watch` before reading the values the transaction depends on; if any watched
    key changes before EXEC, :meth:`execute` raises :class:`WatchError` and nothing was
    applied.  WATCH state belongs to the connection, so use a connection no other task is
    using (``async with pool.connection() as conn``).
    """

    def __init__(self, conn: Connection, *, raise_on_error: bool = True) -> None:
        super().__init__(conn, raise_on_error=raise_on_error)
        self._watching = False

    async def watch(self, *keys: Any) -> None:
        """WATCH keys now (not queued): EXEC will fail if any of them changes."""
        await self._conn.execute("WATCH", *keys)
        self._watching = True

    async def unwatch(self) -> None:
        await self._conn.execute("UNWATCH")
        self._watching = False

    async def execute(self, *, raise_on_error: bool | None = None) -> list[Any]:
        """Run the transaction; the list of per-command results.

        Raises :class:`WatchError` if a watched key changed, ``ExecAbortError`` (with the
        offending command's error as its ``__cause__``) if the server refused to queue one.
        """
        commands, cbs = self._take()
        wire = [("MULTI",), *commands, ("EXEC",)]
        replies = await self._conn._batch(wire)
        self._watching = False
        exec_reply = replies[-1]
        if isinstance(exec_reply, ReplyError):
            # EXECABORT: a command was rejected while queueing; point at it.
            for i, r in enumerate(replies[1:-1]):
                if isinstance(r, ReplyError):
                    exec_reply.add_note(f"command #{i} ({_name(commands[i])}) was refused")
                    if isinstance(exec_reply, ExecAbortError):
                        raise exec_reply from r
                    break
            raise exec_reply
        if isinstance(replies[0], ReplyError):
            raise replies[0]
        if exec_reply is None:
            raise WatchError("transaction aborted: a watched key changed")
        roe = self.raise_on_error if raise_on_error is None else raise_on_error
        return _finish(list(exec_reply), commands, cbs, roe, "transaction")

    async def __aexit__(self, *exc: object) -> None:
        self.reset()
        if self._watching and not self._conn.is_closed:
            self._watching = False
            await self._conn.execute("UNWATCH")
