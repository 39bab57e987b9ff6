"""Whether a manual switchover request is acted on, decided once for every way it arrives.

A request is refused, with the reason operators see, before anything is fenced: a switchover
to the node that already is the primary would fence the live primary, stop writes for the
whole ``switchover_timeout`` and end in ``-failover-abort`` with nothing changed (issue 22).
The CLI (``GUNGNIR.FAILOVER``), the Sentinel endpoint and the core's ``Switchover`` event all
ask :func:`refusal`, so they cannot disagree.
"""

from __future__ import annotations

from .state import DaemonState


def refusal(st: DaemonState, target: str | None) -> str | None:
    """Why this daemon will not start a switchover to ``target`` (None: any replica), or
    None if it will."""
    if not st.is_voter:
        return "observers cannot lead"
    if st.amnesia is not None:
        return "lost its state: it stands only once every other voter told its epoch"
    if target is None:
        return None
    if target not in st.settings.nodes:
        return f"unknown node {target}"
    if target == st.config.primary:
        return (
            f"{target} is already the primary of {st.settings.group} "
            f"(epoch {st.config.epoch}): nothing to switch over"
        )
    return None
