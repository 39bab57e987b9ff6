"""The lost-state rule: a daemon never votes in an epoch it cannot prove it did not vote in.

A daemon whose durable state is missing (a node replaced under the same name, a wiped
hostPath, a first start: they look the same) or is no proof of its votes (a state file an
older layout shared between namespaces) starts *amnesiac*: it grants no vote and stands in no
election, and asks every other voter of its view for its epoch (a :class:`ConfigQuery`, sent
when the link to that voter comes up).  Once every other voter has answered, with M the
highest epoch (or config epoch) any of them reported, it adopts epoch M + 1 with no vote,
persists that (clearing the mark) and goes on as a daemon restarted at M + 1: it never leads
an epoch <= M + 1 either.  M = 0 keeps epoch 0: no election ever uses epoch 0, so a group
where every voter reports 0 has never voted (a fresh group's first start costs no epoch).

Why M + 1 is safe: an epoch e in which this daemon granted a vote before the loss was
persisted by its candidate before the candidate asked (design rule 6); the candidate is
another voter, its epoch never decreases, and it answered a query sent after the loss, so
M >= e.  A self-vote matters only if this daemon led e; then a majority granted e and, with
three or more voters, another voter persisted e too.  Only answers to a query sent after the
start count (``reply_to`` at or after ``since``): an announce sent before the loss may be
older than the vote.

Why every other voter, not a majority: the candidate of e may be the voter not heard from,
and the voters that granted it may grant after they answered.  The cost: while a voter is
down, a daemon that lost its state does not vote (the others still elect, as with one voter
down).  Two voters of three losing their state at once is beyond any rule: nothing durable
is left to prove the old votes by.
"""

from __future__ import annotations

from . import machine
from .actions import Action, Notify, Persist, Send
from .events import Start
from .messages import ConfigAnnounce, ConfigQuery
from .state import DaemonState

Result = tuple[DaemonState, list[Action]]


def waiting(st: DaemonState, start: Start, now: float) -> DaemonState:
    """The state of an amnesiac start (:func:`gungnir.core.rules.recover` calls this)."""
    if not start.amnesiac:
        return st
    s = st.settings
    unheard = (frozenset(s.voters) | frozenset(s.next_voters)) - {st.me}
    return st.replace(vote=None, amnesia=(now, unheard, start.epoch))


def begin(st: DaemonState, now: float) -> Result:
    """The actions of an amnesiac start: the mark persisted before anything else."""
    a = st.amnesia
    if a is None:
        return st, []
    acts: list[Action] = [
        Persist(st.epoch, None, amnesiac=True),  # a crash before the proof keeps the mark
        Notify("+amnesiac", f"epoch {a[2]}: no vote until {', '.join(sorted(a[1]))} answer"),
    ]
    return _maybe_done(st, now, acts)


def query(st: DaemonState, peer: str) -> list[Action]:
    """Ask ``peer`` for its epoch if this daemon still waits for it."""
    a = st.amnesia
    if a is None or peer not in a[1]:
        return []
    return [Send(peer, ConfigQuery(st.settings.group, st.me, a[0], st.epoch))]


def heard(st: DaemonState, m: ConfigAnnounce, now: float) -> Result:
    """Count an answer to a query sent since the amnesiac start."""
    a = st.amnesia
    if a is None or m.sender not in a[1] or m.reply_to is None or m.reply_to < a[0]:
        return st, []
    high = max(a[2], m.epoch, m.config.epoch)
    st = st.replace(amnesia=(a[0], a[1] - {m.sender}, high))
    return _maybe_done(st, now, [])


def _maybe_done(st: DaemonState, now: float, acts: list[Action]) -> Result:
    a = st.amnesia
    if a is None or a[1]:
        return st, acts
    epoch = max(a[2], st.epoch)
    if epoch > 0:  # no election uses epoch 0: a group where all report 0 never voted
        epoch += 1
    st = st.replace(amnesia=None, epoch=epoch, vote=None, restart_floor=epoch)
    acts += [
        Persist(epoch, None, amnesiac=False),
        machine.record(st, now, "epoch_adopted", epoch=epoch),
        Notify("-amnesiac", f"epoch {epoch}"),
    ]
    return st, acts


def why_not(st: DaemonState) -> str:
    """Why this daemon may not vote or stand now, or "" when it may."""
    a = st.amnesia
    if a is None:
        return ""
    return f"lost its state: no vote until {', '.join(sorted(a[1]))} answer"
