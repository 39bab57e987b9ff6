"""The failover core: pure, sans-IO, one state machine per (daemon, group).

Drive it with :func:`step`::

    state = init_state(settings, me="d1")
    state, actions = step(state, Start(epoch, vote), now)   # persisted (epoch, vote)
    state, actions = step(state, Probe("n1", reachable=True, role="primary", ...), now)
    state, actions = step(state, Tick(jitter=random.random()), now)

Execute ``actions`` in order (a :class:`Persist` always precedes what depends on it), feed
node-action outcomes back as :class:`ActionResult`, peer messages as :class:`Received`.
No asyncio, no clock, no randomness: ``now`` and jitter come in with the call.
"""

from .actions import (
    Action,
    Broadcast,
    FailoverCommand,
    Fence,
    Log,
    NodeAction,
    Notify,
    Persist,
    PersistVoters,
    Promote,
    PublishConfig,
    Repoint,
    Send,
    SetWriteQuorum,
    Unfence,
    log,
)
from .events import (
    PRIMARY,
    REPLICA,
    ActionResult,
    Event,
    PeerStatus,
    Probe,
    Received,
    Start,
    Switchover,
    Tick,
    VotersChanged,
)
from .machine import record, step
from .messages import (
    ConfigAnnounce,
    ConfigQuery,
    DownReport,
    FenceNotice,
    Message,
    VoteReply,
    VoteRequest,
)
from .rules import RULES, FencePlan, Rules, best_replica, eligible, has_majority, members
from .settings import (
    AVAILABILITY,
    CONSISTENCY,
    UNMEETABLE_REPLICAS,
    Settings,
    SettingsError,
    describe_settings,
    validate,
)
from .state import (
    CANDIDATE,
    FOLLOWER,
    LEADER,
    Config,
    Confirm,
    DaemonState,
    Election,
    Failover,
    NodeView,
    init_state,
)

__all__ = [
    "AVAILABILITY",
    "CANDIDATE",
    "CONSISTENCY",
    "FOLLOWER",
    "LEADER",
    "PRIMARY",
    "REPLICA",
    "RULES",
    "UNMEETABLE_REPLICAS",
    "Action",
    "ActionResult",
    "Broadcast",
    "Config",
    "ConfigAnnounce",
    "ConfigQuery",
    "Confirm",
    "DaemonState",
    "DownReport",
    "Election",
    "Event",
    "Failover",
    "FailoverCommand",
    "Fence",
    "FenceNotice",
    "FencePlan",
    "Log",
    "Message",
    "NodeAction",
    "NodeView",
    "Notify",
    "PeerStatus",
    "Persist",
    "PersistVoters",
    "Probe",
    "Promote",
    "PublishConfig",
    "Received",
    "Repoint",
    "Rules",
    "Send",
    "SetWriteQuorum",
    "Settings",
    "SettingsError",
    "Start",
    "Switchover",
    "Tick",
    "Unfence",
    "VoteReply",
    "VoteRequest",
    "VotersChanged",
    "best_replica",
    "describe_settings",
    "eligible",
    "has_majority",
    "init_state",
    "log",
    "members",
    "record",
    "step",
    "validate",
]
