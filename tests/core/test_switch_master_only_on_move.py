"""``+switch-master`` means the primary moved (docs/sentinel.md).  A config published under
a new epoch that keeps the primary (a reconcile election) says so under its own name."""

from __future__ import annotations

from gungnir.core import Config, Notify
from gungnir.core.failover import _publish

from .harness import make


def _notices(acts):
    return [a for a in acts if isinstance(a, Notify)]


def test_same_primary_new_epoch_is_not_a_switch_master() -> None:
    c = make()
    c.run(1.0)
    st = c.daemons["d1"]
    _, acts = _publish(st, Config(st.config.epoch + 1, st.config.primary), c.now)
    assert _notices(acts) == [Notify("+config-epoch", "n1 epoch 1: primary unchanged")]


def test_a_moved_primary_is_a_switch_master() -> None:
    c = make()
    c.run(1.0)
    st = c.daemons["d1"]
    _, acts = _publish(st, Config(st.config.epoch + 1, "n2"), c.now)
    assert _notices(acts) == [Notify("+switch-master", "n2 epoch 1")]
