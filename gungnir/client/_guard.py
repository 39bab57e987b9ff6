"""Raw commands the client refuses to send through ``execute``.

Each of these breaks the one-request-one-reply rule the FIFO relies on: (P|S)SUBSCRIBE and
their UNSUBSCRIBEs answer with pushes (one per channel), MONITOR and SYNC/PSYNC stream
without end, and CLIENT REPLY OFF/SKIP suppresses replies.  Sent raw, every later reply
would go to the wrong caller, so they are refused up front with a pointer to the right API.

Two more change the protocol under the client's feet: ``HELLO <version>`` (the connection's
RESP version is what tells pub/sub traffic from replies on RESP2, and ``connect`` negotiated
it) and ``RESET`` (back to RESP2, database 0, the default user, every subscription dropped —
while the client still believes the old state).  Bare ``HELLO`` only reports the server
and is allowed.  The typed helpers never produce any of these, so only the raw paths pay
for this check.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

_STREAMING = frozenset(
    [
        "SUBSCRIBE",
        "PSUBSCRIBE",
        "SSUBSCRIBE",
        "UNSUBSCRIBE",
        "PUNSUBSCRIBE",
        "SUNSUBSCRIBE",
        "MONITOR",
        "SYNC",
        "PSYNC",
    ]
)


def _upper(word: Any) -> str:
    if isinstance(word, (bytes, bytearray)):
        return bytes(word).decode("latin-1").upper()
    return str(word).upper()


def check_raw(args: Sequence[Any]) -> None:
    """Raise ValueError if ``args`` is a command that would desynchronise replies."""
    if not args:
        raise ValueError("empty command")
    name = _upper(args[0])
    if name in _STREAMING:
        hint = "use conn.pubsub()" if "SUBSCRIBE" in name else "it is not supported"
        raise ValueError(f"{name} does not answer one reply per request; {hint}")
    if name == "CLIENT" and len(args) > 1 and _upper(args[1]) == "REPLY":
        raise ValueError("CLIENT REPLY would desynchronise replies; it is not supported")
    if name == "HELLO" and len(args) > 1:
        raise ValueError(
            "HELLO with a protocol version would change the connection's protocol behind "
            "the client; choose it with connect(protocol=...), and use AUTH or CLIENT "
            "SETNAME for the rest"
        )
    if name == "RESET":
        raise ValueError(
            "RESET would silently reset the protocol (to RESP2), database, user and "
            "subscriptions behind the client; close the connection and connect again"
        )
