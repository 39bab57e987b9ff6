"""Nemeses start and heal exactly what they say, against a real test network."""

from __future__ import annotations

import pytest

from gungnir.faults import nemesis as nm
from gungnir.faults.net import TestNet
from gungnir.faults.sentinel import SentinelSUT
from gungnir.local import wait_until

pytestmark = [pytest.mark.faults, pytest.mark.usefixtures("net_ready")]


def test_partition_heals_and_stop_is_idempotent() -> None:
    sut = SentinelSUT()
    with TestNet(["n1", "n2", "d1"]) as net:
        targets = nm.Targets(net, sut)
        cut = nm.Partition("p", targets, lambda: [["n1", "d1"], ["n2"]])
        cut.stop()  # before start: nothing to heal, no error
        cut.start()
        assert cut.detail == {"sides": [["n1", "d1"], ["n2"]]}
        assert net.describe_faults()["blocked"] == [["d1", "n2"], ["n1", "n2"]]
        cut.stop()
        cut.stop()
        assert net.describe_faults()["blocked"] == []


def test_flap_toggles_until_stopped_and_leaves_the_net_healed() -> None:
    sut = SentinelSUT()
    with TestNet(["n1", "n2"]) as net:
        targets = nm.Targets(net, sut)
        flap = nm.Flap(nm.Partition("p", targets, lambda: [["n1"], ["n2"]]), period=0.1)
        flap.start()
        wait_until(lambda: flap.detail.get("flips", 0) >= 4, timeout=10, what="four flips")
        flap.stop()
        assert net.describe_faults()["blocked"] == []
