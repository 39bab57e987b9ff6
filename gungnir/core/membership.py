"""Voter-set changes with joint consensus: the daemon's voter view and how it moves.

A daemon's *voter view* is ``(voters_epoch, voters, next_voters)``: the committed voter set
(``settings.voters``), the epoch of the config that committed it (0: the configured bootstrap
set) and, during a change, the set it is changing to (``settings.next_voters``; empty when no
change is under way).  While ``next_voters`` is set every majority decision needs a majority
of both sets (:func:`gungnir.core.rules.has_majority`).

The view only moves forward, and it is durable (:class:`~gungnir.core.actions.PersistVoters`
precedes anything that depends on it):

* the configuration asks for a set N different from the committed set O -> joint (O, N);
* a vote request from a candidate whose view is newer -> the candidate's view (adopted when
  the vote is granted; a voter whose view is *newer* refuses, so a voter in joint mode never
  helps an O-only majority);
* a config whose ``voters`` differ from ours, committed at a newer epoch -> that set, no
  longer joint.  A leader elected under the joint rule commits N by publishing it.

Why that is safe (docs/voter-changes.md has the full argument): two candidates of one epoch
whose views share a set need intersecting majorities of it, so one voter would have granted
twice.  The only views that share no set are O-only and N-only (or later); an N-only view
exists only after a joint leader of some epoch c committed N, which took grants from a
majority of O, each persisted in joint mode; an O-only candidate of an epoch after c needs a
majority of O, which contains one of those voters, and it refuses; one of an epoch before c
cannot share an epoch with an N-only candidate, whose epoch exceeds c.
"""

from __future__ import annotations

from typing import Any

from .actions import Action, Notify, PersistVoters
from .settings import SettingsError
from .state import FOLLOWER, DaemonState

Result = tuple[DaemonState, list[Action]]
View = tuple[int, tuple[str, ...], tuple[str, ...]]

#: compare_views answers
OLDER, SAME, NEWER, CONFLICT = -1, 0, 1, 2


def view_of(st: DaemonState) -> View:
    s = st.settings
    return (st.voters_epoch, s.voters, s.next_voters)


def compare_views(mine: View, theirs: View) -> int:
    """Is ``theirs`` OLDER, the SAME, NEWER than ``mine``, or in CONFLICT with it?

    Committed sets are ordered by the epoch that committed them; with the same committed set,
    joint is newer than not joint, and two non-joint views are the same.  Two different joint
    targets over one committed set, or two different sets committed at one epoch, conflict
    (refused both ways)."""
    me_e, me_v, me_n = mine
    th_e, th_v, th_n = theirs
    if not th_v:  # the sender does not say: its committed set is ours, not joint
        th_e, th_v, th_n = me_e, me_v, ()
    if th_v == me_v and not th_n and not me_n:
        # one committed set, no change under way: the same view whatever epoch each side
        # learned it at (a daemon bootstrapped from the committed set has epoch 0)
        return SAME
    if th_e != me_e:
        return NEWER if th_e > me_e else OLDER
    if th_v != me_v:
        return CONFLICT
    if th_n == me_n:
        return SAME
    if not me_n:
        return NEWER
    if not th_n:
        return OLDER
    return CONFLICT


def _rec(st: DaemonState, now: float, kind: str, **fields: Any) -> Action:
    from .machine import record

    return record(st, now, kind, **fields)


def set_view(st: DaemonState, view: View, now: float) -> Result:
    """Adopt ``view`` (persisted first); peers gain links to new members."""
    if view == view_of(st):
        return st, []
    vepoch, voters, nxt = view
    s = st.settings.replace(voters=voters, next_voters=nxt)
    members = set(voters) | set(nxt)
    known = {p for p, _, _ in st.peers}
    extra = tuple((p, False, now) for p in sorted(members - known - {st.me}))
    s = s.replace(voters_epoch=vepoch)
    st = st.replace(settings=s, peers=tuple(sorted(st.peers + extra)))
    acts: list[Action] = [
        PersistVoters(voters, nxt, vepoch),
        _rec(
            st,
            now,
            "voters_changed",
            voters=list(voters),
            next_voters=list(nxt),
            voters_epoch=vepoch,
        ),
    ]
    return st, acts


def enter_joint(st: DaemonState, desired: tuple[str, ...]) -> View:
    """The production rule: a desired set different from the committed one starts joint
    consensus (old and new set); it is committed later by an election under the joint rule."""
    return (st.voters_epoch, st.settings.voters, desired)


def maybe_begin(st: DaemonState, now: float, begin: Any) -> Result:
    """Start the change the configuration asks for, if one is due and may start now.

    Only a follower changes its view on its own: a candidate or leader was elected (or is
    standing) under its current view and must publish under it.  A change to yet another set
    while one is joint waits until the first is committed."""
    d = st.desired
    s = st.settings
    if not d or st.role != FOLLOWER or s.next_voters or set(d) == set(s.voters):
        return st, []
    view: View = begin(st, d)
    return set_view(st, view, now)


def on_desired(st: DaemonState, voters: tuple[str, ...], now: float, begin: Any) -> Result:
    """:class:`~gungnir.core.events.VotersChanged`: remember the desired set, begin if due.

    A set that breaks the settings' rules (not 3 or 5 names, duplicates, fewer daemons than
    ``quorum``) is refused with a notification and changes nothing."""
    d = tuple(voters)
    try:
        s = st.settings.replace(desired_voters=d)
    except SettingsError as e:
        return st, [Notify("-voters-refused", str(e))]
    return maybe_begin(st.replace(settings=s), now, begin)


def on_config(st: DaemonState, voters: tuple[str, ...], epoch: int, now: float) -> Result:
    """A config of ``epoch`` naming committed set ``voters``: adopt it if it is newer."""
    if not voters:
        return st, []
    if compare_views(view_of(st), (epoch, voters, ())) != NEWER:
        return st, []
    if tuple(voters) == st.settings.voters:
        return st, []  # the same set republished: keeps our joint target, if any
    return set_view(st, (epoch, tuple(voters), ()), now)


def committed_by(st: DaemonState, epoch: int) -> tuple[tuple[str, ...], View | None]:
    """The voters a config this daemon publishes for ``epoch`` names, and the view the
    daemon moves to by publishing it (None: unchanged).  A joint leader commits its target."""
    s = st.settings
    if s.next_voters:
        return s.next_voters, (epoch, s.next_voters, ())
    return s.voters, None
