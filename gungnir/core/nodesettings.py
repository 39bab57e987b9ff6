"""The node settings the protocol's guarantees rest on: what a primary must run with, and the
write lease that follows from what it runs with (design rule 10: observed, not assumed).

Why this is its own rule set: the consistency policy's "never two writable primaries" holds
only if the old primary's ``min-replicas-max-lag`` is the one its lease was computed from.  A
node an operator hardened before gungnir came (``min-replicas-to-write 1``,
``min-replicas-max-lag 10``) already met the write quorum, so a check of that setting alone
never set the max-lag, and a lease computed from the policy's 2 s ended while the old
primary still took writes for eight more.  So every setting is read back on each probe,
enforced where it is looser than the policy needs, and the lease is computed from the value
read from the node.

What each policy keeps of an operator's settings (never lowered):

* ``min-replicas-to-write``: both policies keep a value higher than the policy's (the
  availability policy's is 0), and restore it after a fence of ours overwrote it;
* ``min-replicas-max-lag``: the consistency policy keeps a value lower than its own (a
  shorter lease) and lowers a higher one to its own; the availability policy, which waits
  out no lease, keeps the operator's value.
"""

from __future__ import annotations

from .settings import CONSISTENCY, Settings
from .state import DaemonState, NodeView


def wanted(s: Settings, v: NodeView) -> tuple[int, int]:
    """(min-replicas-to-write, min-replicas-max-lag) the node should run with as a writable
    primary: the policy's, or the operator's where theirs is stricter (module docstring)."""
    min_replicas = max(s.write_quorum, v.kept_min_replicas)
    ours = s.max_lag_setting
    if not v.settings_ok:
        return min_replicas, ours
    if s.policy == CONSISTENCY:
        return min_replicas, min(v.max_lag, ours)
    return min_replicas, v.max_lag


def drifted(s: Settings, v: NodeView) -> bool:
    """Does the (vetted) config primary run with settings other than :func:`wanted`?

    A fence of ours (``min-replicas-to-write`` unmeetable) counts: lifting it is the vetting
    step.  So does a sync denial left by the start fence on a node that is otherwise lifted:
    its replicas could never sync, and the executor gives SYNC back with every
    ``SetWriteQuorum``."""
    min_replicas, lag = wanted(s, v)
    return v.min_replicas != min_replicas or v.max_lag != lag or v.sync_denied


def observed_max_lag(st: DaemonState, node: str | None) -> int:
    """The ``min-replicas-max-lag`` ``node`` was last seen running with: what its write
    lease is computed from.

    Daemons only ever lower a node's max-lag (see :func:`wanted`), so the value last read is
    never below the one the node runs with now unless an operator raised it since.  A node
    this daemon never read (it restarted while the node was out of reach) is taken to run
    with the highest max-lag read from any node of the group, and never less than the
    policy's: the preset an operator gives a group is the same on every node."""
    v = st.view(node) if node is not None else None
    if v is not None and v.seen and v.settings_ok:
        return v.max_lag
    read = [o.max_lag for o in st.nodes if o.seen and o.settings_ok]
    return max([st.settings.max_lag_setting, *read])
