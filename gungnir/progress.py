"""Progress of long work: one live line on a terminal, plain lines in logs.

An operator watching ``gungnir verify`` on a terminal wants to see that it is moving and how
fast (states, depth, states per second) without the screen scrolling away; a CI log wants one
plain line per report, because ``\\r`` rewrites turn into an unreadable smear there. The
choice is made once, from ``stream.isatty()``.

On a terminal the line is rewritten in place, at most ``min_interval`` seconds apart, so a
caller may report as often as it likes. The rate is the average since the start, measured on
the injected ``clock`` (``time.monotonic`` by default) so tests can drive it.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO

__all__ = ["Progress"]


class Progress:
    """States, depth and rate of an exploration, live or plain depending on the stream."""

    def __init__(
        self,
        stream: TextIO | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        min_interval: float = 0.25,
        prefix: str = "  ...",
        live: bool | None = None,
    ) -> None:
        self.stream = sys.stdout if stream is None else stream
        self.clock = clock
        self.min_interval = min_interval
        self.prefix = prefix
        if live is None:
            isatty = getattr(self.stream, "isatty", None)
            live = bool(isatty and isatty())
        self.live = live
        self.start = clock()
        self.states = 0
        self.depth = 0
        self._last_draw: float | None = None
        self._updated_at = self.start  # clock of the latest update, drawn or not
        self._width = 0  # length of the line on screen, to blank a longer previous one

    def rate(self, now: float | None = None) -> float:
        """Average states per second since the start (0 before any time has passed)."""
        elapsed = (self.clock() if now is None else now) - self.start
        return self.states / elapsed if elapsed > 0 else 0.0

    def line(self, now: float | None = None) -> str:
        """The text of one report, without prefix or line ending."""
        now = self.clock() if now is None else now
        return (
            f"{self.states} states, depth {self.depth}, {now - self.start:.0f}s, "
            f"{self.rate(now):.0f} states/s"
        )

    def update(self, states: int, depth: int) -> None:
        """Record how far the work got; draw it unless the last draw was too recent."""
        self.states, self.depth = states, depth
        now = self._updated_at = self.clock()
        if not self.live:
            self._write_plain(now)
            return
        if self._last_draw is not None and now - self._last_draw < self.min_interval:
            return
        self._draw(now)

    def done(self) -> None:
        """End the live line so later output starts on a fresh one.

        An update the throttle held back is drawn first, timed when it was reported (a redraw
        timed now with the same count would show a falling rate that never happened).
        """
        if self.live and self._last_draw is not None:
            if self._updated_at > self._last_draw:
                self._draw(self._updated_at)
            self.stream.write("\n")
            self.stream.flush()
            self._last_draw = None
            self._width = 0

    def _write_plain(self, now: float) -> None:
        self.stream.write(self.prefix + self.line(now) + "\n")
        self.stream.flush()
        self._last_draw = now

    def _draw(self, now: float) -> None:
        text = self.prefix + self.line(now)
        pad = max(0, self._width - len(text))
        self.stream.write("\r" + text + " " * pad)
        self.stream.flush()
        self._width = len(text)
        self._last_draw = now
