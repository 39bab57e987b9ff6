"""The start-up fence: the Valkey config lines that make a node start refusing writes and syncs.

Why a node must *start* fenced: a primary that comes back without its data (no persistence, a
lost volume) is an ordinary empty primary until a daemon probes it, sees the new run id and
applies the empty-restart fence (``Fence(method="no_sync")``, 0.1-0.2 s later).  A replica
whose once-a-second reconnect falls inside that window is sent a full sync of the empty
dataset, and ``WAIT`` is answered by that replica while it is being wiped (seen in the fault
campaign: 4 WAIT-confirmed writes lost).  No daemon can be faster than the node's own start-up,
so the node's configuration has to carry the fence itself:

* ``min-replicas-to-write`` at :data:`~gungnir.core.UNMEETABLE_REPLICAS`: no write is taken;
* every user a replica can sync as (:func:`gungnir.runtime.executor.sync_users`: ``default``
  and the group's ``username``) denied ``SYNC`` and ``PSYNC``: every replica handshake ends in
  ``NOPERM`` and the replica keeps its data.

The daemons lift it only on a node they have vetted: on the config primary the core emits
``SetWriteQuorum`` (its ``min-replicas-to-write`` differs from the policy's write quorum, which
is never the unmeetable value), and the executor gives ``SYNC``/``PSYNC`` back before every
``SetWriteQuorum``, ``Unfence``, ``Promote`` and ``Repoint``.  A node flagged as restarted
without its data gets none of these, so it stays fenced until a failover repoints it.

A ``user`` line *replaces* the user's rules, password included, and Valkey applies ``user``
lines after ``requirepass`` whatever their order in the file: a ``user default ... nopass`` line
silently turns a ``requirepass`` off.  So each user's full rules are given here, the password as
``>secret`` (or ``#<sha256>``), and ``-sync -psync`` are appended last (ACL rules apply in
order, so they must come after ``+@all``).
"""

from __future__ import annotations

from collections.abc import Mapping

from gungnir.core import UNMEETABLE_REPLICAS

from .executor import SYNC_COMMANDS

__all__ = ["DEFAULT_USER_RULES", "fenced_user_rules", "start_fence_lines"]

#: Valkey's own rules for ``default`` when no password is set.
DEFAULT_USER_RULES = "on nopass ~* &* +@all"


def fenced_user_rules(rules: str) -> str:
    """``rules`` with SYNC/PSYNC denied at the end (an ACL rule list applies left to right)."""
    words = rules.split()
    if not words:
        raise ValueError("empty ACL rules: give the user's full rules (e.g. 'on nopass ~* +@all')")
    deny = [f"-{c}" for c in SYNC_COMMANDS]
    return " ".join([*(w for w in words if w.lower() not in deny), *deny])


def start_fence_lines(users: Mapping[str, str] | None = None) -> list[str]:
    """Config-file lines for a node that starts fenced.

    ``users`` maps each user a replica may sync as to its full ACL rules (without the sync
    denial); by default ``default`` with Valkey's own password-less rules.  Every name in
    :func:`~gungnir.runtime.executor.sync_users` of the group's ``username`` should be here.
    """
    given = dict(users) if users is not None else {"default": DEFAULT_USER_RULES}
    lines = [f"min-replicas-to-write {UNMEETABLE_REPLICAS}"]
    for name, rules in given.items():
        if not name or any(ch.isspace() for ch in name):
            raise ValueError(f"not an ACL user name: {name!r}")
        lines.append(f"user {name} {fenced_user_rules(rules)}")
    return lines
