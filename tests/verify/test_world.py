"""The world model's own semantics: what the checker's verdicts rest on."""

from gungnir.core import CONSISTENCY
from gungnir.verify.explore import Fingerprinter
from gungnir.verify.invariants import abstraction, check, converged, default_invariants
from gungnir.verify.world import Model, Scope


def model(**kw: object) -> Model:
    return Model(Scope(**kw))  # type: ignore[arg-type]


def test_initial_world_is_converged_and_clean() -> None:
    m = model()
    w = m.initial()
    assert check(m, w, default_invariants(CONSISTENCY)) == []
    # before any round the daemons' bootstrap config names n1 and n1 has its replicas' acks
    assert m.writable(w, "n1") and not m.writable(w, "n2")
    assert converged(m, w) is None


def test_min_replicas_lag_window_is_not_instantaneous() -> None:
    m = model()
    w = m.apply(m.initial(), ("partition", frozenset({"n1"})))
    assert m.writable(w, "n1")  # acks from t=0 are still within min-replicas-max-lag
    w = m.apply(w, ("advance",))  # t=1: 1 - 0 <= lag 1
    assert m.writable(w, "n1")
    w = m.apply(w, ("advance",))  # t=2: Valkey's whole seconds and once-a-second recount
    assert m.writable(w, "n1")
    w = m.apply(w, ("advance",))  # t=3 = lag + 2: no replica acked within the window
    assert not m.writable(w, "n1")


def test_the_window_is_the_nodes_own_max_lag() -> None:
    """An operator's max-lag (preset) is what the node runs with, until a daemon sets it."""
    m = Model(Scope(node_preset=(1, 3)))
    w = m.apply(m.initial(), ("partition", frozenset({"n1"})))
    for _ in range(4):  # up to t=4 = max-lag 3 + 1
        w = m.apply(w, ("advance",))
        assert m.writable(w, "n1")
    w = m.apply(w, ("advance",))
    assert not m.writable(w, "n1")
    assert m.probe(w, "d1", "n2").max_lag == 3


def test_restarted_primary_has_no_replica_connections() -> None:
    m = model()
    w = m.apply(m.initial(), ("crash-node", "n1"))
    w = m.apply(w, ("partition", frozenset({"n1"})))
    w = m.apply(w, ("restart-node", "n1"))
    assert not m.writable(w, "n1")


def test_empty_restart_loses_data_and_is_flagged() -> None:
    m = model(writes=1)
    w = m.apply(m.initial(), ("write", "n1"))
    assert w.committed == frozenset({1})
    w = m.apply(w, ("crash-node", "n3"))
    w = m.apply(w, ("partition", frozenset({"n3"})))
    w = m.apply(w, ("restart-node-empty", "n3"))
    n3 = m.node(w, "n3")
    assert n3.log == () and n3.empty_restart
    w = m.apply(w, ("heal",))  # resyncs from n1
    assert m.node(w, "n3").log == (0, 1) and not m.node(w, "n3").empty_restart


def test_daemon_restart_keeps_only_persisted_state() -> None:
    m = model()
    w = m.initial()
    w = w._replace(durable=((1, "d2", False), *w.durable[1:]))
    w = m.apply(w, ("crash", "d1"))
    assert w.daemons[0] is None
    w = m.apply(w, ("restart", "d1"))
    st = w.daemons[0]
    assert st is not None and st.epoch == 1 and st.vote == "d2" and st.restart_floor == 1
    assert ("d1", 1) in abstraction(m, w).restarted_at


def test_symmetric_worlds_share_a_fingerprint_and_time_shifts_too() -> None:
    m = model()
    fp = Fingerprinter(m, True)
    w = m.initial()
    a = m.apply(w, ("crash", "d1"))
    b = m.apply(w, ("crash", "d3"))
    assert fp.canonical(a) == fp.canonical(b)
    assert Fingerprinter(m, False).canonical(a) != Fingerprinter(m, False).canonical(b)
    r1 = m.apply(w, ("round", "d1"))
    r2 = m.apply(w, ("round", "d2"))
    assert fp.canonical(r1) == fp.canonical(r2)
    # a quiet world one second later (after everyone probed again) is the same state
    q = w
    for d in ("d1", "d2", "d3"):
        q = m.apply(q, ("round", d))
    q2 = m.apply(q, ("advance",))
    for d in ("d1", "d2", "d3"):
        q2 = m.apply(q2, ("round", d))
    q3 = m.apply(q2, ("advance",))
    for d in ("d1", "d2", "d3"):
        q3 = m.apply(q3, ("round", d))
    assert q3.now == q2.now + 1 and fp.canonical(q2) == fp.canonical(q3)


def test_a_cut_is_renamed_with_the_daemons_it_isolates() -> None:
    """Isolating d1 or d2 from alike peers is one state; isolating a daemon or a node is not,
    and without symmetry the two daemon cuts stay apart."""
    m = model()
    fp = Fingerprinter(m, True)
    w = m.initial()
    d1 = m.apply(w, ("partition", frozenset({"d1"})))
    d2 = m.apply(w, ("partition", frozenset({"d2", "n2"})))
    d2b = m.apply(w, ("partition", frozenset({"d2"})))
    d3 = m.apply(w, ("partition", frozenset({"d3", "n2"})))
    assert fp.canonical(d1) == fp.canonical(d2b)
    assert fp.canonical(d2) == fp.canonical(d3)
    assert fp.canonical(d1) != fp.canonical(m.apply(w, ("partition", frozenset({"n1"}))))
    assert fp.canonical(d2) != fp.canonical(m.apply(w, ("partition", frozenset({"d2", "n3"}))))
    plain = Fingerprinter(m, False)
    assert plain.canonical(d1) != plain.canonical(d2b)


def test_renderer_covers_every_daemon_state_field() -> None:
    """A DaemonState field the renderer does not know is rendered verbatim (never merged
    away), and every field it renders itself exists."""
    import dataclasses

    from gungnir.core import DaemonState
    from gungnir.verify.explore import RENDERED, _unknown_fields

    names = {f.name for f in dataclasses.fields(DaemonState)}
    assert names >= RENDERED
    assert set(_unknown_fields()) == names - RENDERED


def test_memoised_steps_give_the_worlds_a_fresh_core_run_gives() -> None:
    """The model memoises the core's ``step``; the same transitions replayed on a model that
    runs every step afresh (``record`` set turns the memo off) reach equal worlds."""
    from gungnir.verify.explore import explore

    scope = Scope(name="memo", crashes=1, partitions=1, writes=1, duplicates=0)
    warm = Model(scope)
    worlds = []
    explore(warm, (), max_states=3_000, visit=worlds.append)
    cold = Model(scope, record=[])
    compared = 0
    for w in worlds[::10]:
        for label, nxt in warm.successors(w):
            assert cold.apply(w, label) == nxt, label
            compared += 1
    assert warm._memo and compared > 1_000
