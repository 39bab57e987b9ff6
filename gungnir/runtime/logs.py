"""Logging: human text or JSON lines, and the decision log of the trace contract.

Two streams with two audiences.  The operational log (``logging``) is for people and log
shippers: every failover line carries ``group`` and ``epoch`` as fields (and in the text).
The decision log is for machines: the core's :class:`gungnir.core.Log` records, one JSON
object per line exactly as the core built them (the runtime adds nothing), so the trace
checker in :mod:`gungnir.verify.trace` can replay a daemon's decisions.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import deque
from pathlib import Path
from typing import IO, Any

__all__ = ["DecisionLog", "JsonFormatter", "TextFormatter", "setup_logging"]

#: ``extra=`` keys that are copied into JSON lines and appended to text lines.
FIELDS = ("group", "epoch", "daemon", "node", "event", "peer")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": round(record.created, 6),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key in FIELDS:
            if hasattr(record, key):
                out[key] = getattr(record, key)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        tags = [f"{k}={getattr(record, k)}" for k in FIELDS if hasattr(record, k)]
        return f"{text} [{' '.join(tags)}]" if tags else text


def setup_logging(fmt: str = "text", level: str = "INFO", stream: IO[str] | None = None) -> None:
    """Configure the root ``gungnir`` logger once for a daemon process."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger("gungnir")
    for h in list(root.handlers):
        root.removeHandler(h)
    root.addHandler(handler)
    root.setLevel(level)
    root.propagate = False


class DecisionLog:
    """Append-only JSON lines; each line is flushed so a killed daemon leaves a whole log
    (up to its last line) for the trace checker.

    The last ``keep`` lines also stay in memory, file or not, so ``gungnir history`` can ask
    a running daemon (``GUNGNIR.HISTORY``) without access to its disk.
    """

    def __init__(self, path: str | Path | None, keep: int = 5000) -> None:
        self.path = Path(path) if path is not None else None
        self._fh: IO[str] | None = None
        self._lock = threading.Lock()
        self.lines = 0
        self.recent: deque[str] = deque(maxlen=keep)
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")

    def write(self, line: str) -> None:
        self.lines += 1
        self.recent.append(line)
        if self._fh is None:
            return
        with self._lock:
            self._fh.write(line + "\n")
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def wall() -> float:
    return time.time()
