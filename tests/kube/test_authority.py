"""The pure decisions behind every daemon's Kubernetes writes, and the history checker."""

from __future__ import annotations

from typing import Any

from gungnir.core.state import Config
from gungnir.kube.authority import (
    may_write,
    published_epoch,
    routable,
    route_for,
    supersedes,
)
from gungnir.kube.history import Write, check_routing
from gungnir.kube.model import PodInfo


def pod(name: str, ip: str | None = "10.0.0.1", phase: str = "Running", **kw: Any) -> PodInfo:
    epoch = kw.pop("epoch", None)
    ann = {"gungnir.io/epoch": str(epoch)} if epoch is not None else {}
    return PodInfo(name, "ns", "uid", ip, "n1", phase, True, "1", annotations=ann, **kw)


def test_only_a_higher_or_a_different_same_epoch_config_supersedes() -> None:
    c1 = Config(1, "a", ("b",))
    assert supersedes(c1, None)
    assert supersedes(Config(2, "b", ("a",)), c1)
    assert not supersedes(Config(0, "a", ("b",)), c1)  # a stale bootstrap config
    assert not supersedes(Config(1, "a", ("b",)), c1)  # the same again: nothing to do
    assert supersedes(Config(1, "a", ("b",), ("d1", "d2", "d3")), c1)  # its voters


def test_nothing_is_written_from_a_config_older_than_the_published_one() -> None:
    pods = [pod("a", epoch=3), pod("b"), pod("c", epoch=1)]
    assert published_epoch(None, None, []) == -1
    assert published_epoch(2, None, pods) == 3  # a pod stamped by epoch 3
    assert published_epoch(4, 2, pods) == 4
    assert published_epoch(None, 5, pods) == 5
    assert may_write(3, 3) and may_write(4, 3)
    assert not may_write(0, 1)


def test_routing_names_only_a_running_pod_with_an_ip() -> None:
    assert routable(pod("a"))
    assert not routable(None)
    assert not routable(pod("a", ip=None))
    assert not routable(pod("a", phase="Pending"))
    assert not routable(pod("a", terminating=True))  # its IP is about to be released


def test_route_for_leaves_routing_alone_when_the_primary_is_unknown() -> None:
    pods = {"a": pod("a"), "b": pod("b")}
    assert route_for(Config(1, "a", ("b",)), pods, ()) == (True, pods["a"])
    assert route_for(Config(0, None, ("a", "b")), pods, ()) == (False, None)  # not known yet
    assert route_for(Config(1, "10.0.0.9:6379", ("a",)), pods, ()) == (False, None)
    write, gone = route_for(Config(1, "c", ("a",)), pods, {"a", "b", "c"})  # c was a pod
    assert write and gone is not None and gone.name == "c" and not routable(gone)


def _pod(name: str, role: str | None) -> dict[str, Any]:
    labels = {"gungnir.io/role": role} if role else {}
    return {"metadata": {"name": name, "labels": labels}}


def _slice(epoch: int, *names: str) -> dict[str, Any]:
    return {
        "metadata": {"name": "s", "annotations": {"gungnir.io/epoch": str(epoch)}},
        "endpoints": [{"addresses": ["10.0.0.1"], "targetRef": {"name": n}} for n in names],
    }


def test_history_check_finds_two_labelled_primaries_and_clears_after_a_demotion() -> None:
    ok = [
        Write(1, "pods", "a", _pod("a", "primary")),
        Write(2, "pods", "a", _pod("a", "replica")),
        Write(3, "pods", "b", _pod("b", "primary")),
        Write(4, "pods", "a", None),
        Write(5, "pods", "a", _pod("a", None)),
    ]
    assert check_routing(ok) == []
    bad = [ok[0], ok[2], ok[1]]  # the new primary labelled before the old was demoted
    (msg,) = check_routing(bad)
    assert "a, b all labelled primary" in msg


def test_history_check_finds_bad_slices() -> None:
    two = [Write(1, "endpointslices", "s", _slice(1, "a", "b"))]
    assert "names a, b" in check_routing(two)[0]
    back = [
        Write(1, "endpointslices", "s", _slice(2, "a")),
        Write(2, "endpointslices", "s", _slice(1, "b")),
    ]
    assert "went back from epoch 2 to 1" in check_routing(back)[0]


def test_history_check_bounds_how_long_the_slice_names_a_non_primary() -> None:
    moves = [
        Write(0.0, "pods", "a", _pod("a", "primary")),
        Write(0.1, "endpointslices", "s", _slice(1, "a")),
        Write(1.0, "endpointslices", "s", _slice(2, "b")),  # routed first, labelled after
        Write(1.2, "pods", "a", _pod("a", "replica")),
        Write(1.3, "pods", "b", _pod("b", "primary")),
    ]
    assert check_routing(moves, grace=0.5) == []
    late = [
        *moves[:3],
        Write(2.0, "pods", "a", _pod("a", "replica")),
        Write(2.1, "pods", "b", _pod("b", "primary")),
    ]
    (msg,) = check_routing(late, grace=0.5)
    assert "has named b, not the labelled primary, since 1.000" in msg
    # A stretch still open when the history ends counts too.
    (msg,) = check_routing(moves[:3], grace=0.5, end=3.0)
    assert "since 1.000" in msg
