"""The CRD's CEL rules (``x-kubernetes-validations`` on ValkeyGroup.spec) refuse what the core
refuses: an even voter set, a quorum above the voters, a broken timing rule.

Why: the API server checks these at ``kubectl apply`` time, so a bad spec is refused with a
message instead of being accepted and only reported later in the SpecValid condition. No
kube-apiserver runs here, so the rules are evaluated with cel-python when it is installed
(a locked test dependency), and each verdict is compared
with the core's own validation of the same spec.
"""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from gungnir.kube import spec_to_settings

from .conftest import REPO

celpy = pytest.importorskip("celpy")

GOOD: dict[str, Any] = {
    "voters": ["a", "b", "c"],
    "quorum": 2,
    "fenceAfter": "3s",
    "probeInterval": "1s",
    "maxClockDrift": "500ms",
    "promoteAfter": "6s",
}


def rules() -> list[tuple[str, Any]]:
    crd = yaml.safe_load((REPO / "k8s/base/crd-valkeygroup.yaml").read_text())
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    env = celpy.Environment()
    return [
        (r["message"], env.program(env.compile(r["rule"])))
        for r in spec["x-kubernetes-validations"]
    ]


def refused(spec: dict[str, Any]) -> list[str]:
    activation = {"self": celpy.json_to_cel(spec)}
    return [message for message, program in rules() if not bool(program.evaluate(activation))]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({}, None),
        ({"voters": ["a", "b", "c", "d"]}, "odd number"),
        ({"quorum": 4}, "quorum must not be above the number of voters"),
        ({"voters": list("abcde"), "nextVoters": ["a", "b", "c"], "quorum": 4}, "nextVoters"),
        ({"nextVoters": ["a", "b"]}, "nextVoters must name an odd"),
        ({"promoteAfter": "4.5s"}, "timing rule"),
        ({"fenceAfter": "1m"}, "timing rule"),
        ({"promoteAfter": "4501ms"}, None),
    ],
)
def test_cel_rules_agree_with_the_core(change: dict[str, Any], message: str | None) -> None:
    spec = {**GOOD, **change}
    got = refused(spec)
    _, problems = spec_to_settings("g", spec, nodes=("valkey-0",))
    if message is None:
        assert got == [] and problems == []
    else:
        assert len(got) == 1 and message in got[0], got
        assert problems, "the core refuses it too"


def test_the_timing_rule_waits_for_all_four_durations() -> None:
    """With a duration left out the core derives it, so CEL must not judge a partial set."""
    assert refused({"voters": ["a", "b", "c"], "promoteAfter": "1s"}) == []
