"""ValkeyGroup: spec -> settings, validation as status conditions, status, switchover."""

from __future__ import annotations

import pytest
from kubernetes import client

from gungnir.kube import StaleEpoch, spec_to_settings
from gungnir.kube.groups import merge_conditions, parse_duration

from .apiserver import ApiServer
from .conftest import GROUP, NS, Kubelet, backend, run, until

GOOD = {
    "voters": ["n1", "n2", "n3"],
    "policy": "consistency",
    "downAfter": "5s",
    "probeInterval": "500ms",
    "fenceAfter": "2s",
    "promoteAfter": "4s",
    "maxClockDrift": "250ms",
    "maxLag": 4096,
    "failoverTimeout": "1m30s",
}


def test_good_spec_becomes_snake_case_settings() -> None:
    s, problems = spec_to_settings("cache", GOOD)
    assert problems == []
    assert s == {
        "name": "cache",
        "voters": ("n1", "n2", "n3"),
        "quorum": 2,
        "policy": "consistency",
        "down_after": 5.0,
        "probe_interval": 0.5,
        "failover_timeout": 90.0,
        "fence_after": 2.0,
        "promote_after": 4.0,
        "max_clock_drift": 0.25,
        "max_lag": 4096,
        "port": 6379,
        "primary_service": "cache-primary",
        "read_service": "cache-read",
        "selector": "gungnir.io/group=cache",
    }


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"quorum": 4}, "spec.quorum: 4 must be between 1 and the number of voters (3)"),
        ({"voters": ["a", "b"]}, "2 voters; use an odd number"),
        ({"voters": ["a", "a", "b"]}, "names must be unique"),
        ({"policy": "yolo"}, "spec.policy: must be one of availability, consistency"),
        ({"downAfter": "5 seconds"}, "spec.downAfter: not a duration"),
        ({"downAfter": "400ms"}, "spec.downAfter (0.4s) must exceed spec.probeInterval"),
        ({"promoteAfter": "2.5s"}, "must be less than promoteAfter (2.5s)"),
        ({"fenceAfter": None}, "must be set together"),
        ({"maxLag": "big"}, "spec.maxLag: must be an integer"),
        ({"port": 70000}, "spec.port: 70000 is not a TCP port"),
        ({"quorom": 2}, "spec.quorom: unknown field"),
        ({"selector": {"matchLabels": {}}}, "spec.selector: matchLabels must be"),
    ],
)
def test_bad_specs_are_reported_clearly(change: dict, needle: str) -> None:
    spec = {k: v for k, v in (GOOD | change).items() if v is not None}
    settings, problems = spec_to_settings("cache", spec)
    assert any(needle in p for p in problems), problems
    assert set(settings) >= {"quorum", "down_after", "voters"}  # still complete


def test_missing_voters() -> None:
    _, problems = spec_to_settings("cache", {})
    assert problems == ["spec.voters: required (name 3 or 5 nodes or daemon pods)"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("1m30s", 90.0), ("2h", 7200.0), (3, 3.0), ("0.5s", 0.5)]
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_conditions_keep_transition_time_when_unchanged() -> None:
    old = [{"type": "SpecValid", "status": "True", "lastTransitionTime": "t0"}]
    same = merge_conditions(
        old, [{"type": "SpecValid", "status": "True", "lastTransitionTime": "t1", "message": "m"}]
    )
    assert same[0]["lastTransitionTime"] == "t0" and same[0]["message"] == "m"
    flip = merge_conditions(
        old, [{"type": "SpecValid", "status": "False", "lastTransitionTime": "t2"}]
    )
    assert flip[0]["lastTransitionTime"] == "t2"


def _group(kc: client.ApiClient) -> dict:
    return client.CustomObjectsApi(kc).get_namespaced_custom_object(
        "gungnir.io", "v1alpha1", NS, "valkeygroups", GROUP
    )


def _cond(obj: dict, type_: str) -> dict | None:
    return next(
        (c for c in (obj.get("status") or {}).get("conditions", []) if c["type"] == type_), None
    )


def test_spec_validity_is_reported_as_a_condition(
    api: ApiServer, kc: client.ApiClient, cluster: Kubelet
) -> None:
    co = client.CustomObjectsApi(kc)

    async def scenario() -> None:
        b = backend(api.url)
        await b.start()
        await until(
            lambda: (_cond(_group(kc), "SpecValid") or {}).get("status") == "True",
            what="SpecValid=True",
        )
        good = b.settings(GROUP)
        # The CRD schema passes this edit (quorum >= 1), the cross-field check does not.
        co.patch_namespaced_custom_object(
            "gungnir.io",
            "v1alpha1",
            NS,
            "valkeygroups",
            GROUP,
            {"spec": {"quorum": 5}},
            _content_type="application/merge-patch+json",
        )
        await until(
            lambda: (_cond(_group(kc), "SpecValid") or {}).get("status") == "False",
            what="SpecValid=False",
        )
        cond = _cond(_group(kc), "SpecValid")
        assert cond is not None and cond["reason"] == "InvalidSpec"
        assert "spec.quorum: 5 must be between 1 and the number of voters (3)" in cond["message"]
        assert cond["observedGeneration"] == 2
        assert b.settings(GROUP) == good  # the last good settings stay in force
        assert b.problems(GROUP)
        # The schema itself rejects what it can: 422 at the API, nothing reaches us.
        with pytest.raises(client.ApiException) as e:
            co.patch_namespaced_custom_object(
                "gungnir.io",
                "v1alpha1",
                NS,
                "valkeygroups",
                GROUP,
                {"spec": {"policy": "yolo"}},
                _content_type="application/merge-patch+json",
            )
        assert e.value.status == 422
        await b.close()

    run(scenario())


def test_status_is_kept_by_the_leader_and_refuses_stale_epochs(
    api: ApiServer, kc: client.ApiClient, cluster: Kubelet
) -> None:
    async def scenario() -> None:
        b = backend(api.url)
        await b.start()
        await b.publish_routing(GROUP, 4, "cache-1", "gungnir-n1")
        await b.record_config(
            GROUP, epoch=4, primary="cache-1", leader="gungnir-n1", reason="primary cache-0 down"
        )
        st = _group(kc)["status"]
        assert (st["epoch"], st["primary"], st["leader"]) == (4, "cache-1", "gungnir-n1")
        assert st["lastFailoverReason"] == "primary cache-0 down" and st["lastFailoverTime"]
        assert _cond(_group(kc), "Routed")["status"] == "True"
        with pytest.raises(StaleEpoch):
            await b.record_config(GROUP, epoch=3, primary="cache-0", leader="gungnir-n2")
        assert _group(kc)["status"]["primary"] == "cache-1"
        await b.close()

    run(scenario())


def test_switchover_through_the_annotation(
    api: ApiServer, kc: client.ApiClient, cluster: Kubelet
) -> None:
    from gungnir.kube.groups import request_switchover

    async def scenario() -> None:
        b = backend(api.url)
        await b.start()
        assert b.switchover_request(GROUP) is None
        await request_switchover(b.api, GROUP, "cache-2")  # what `gungnir failover` does
        await until(lambda: b.switchover_request(GROUP) == "cache-2", what="request seen")
        await request_switchover(b.api, GROUP, "any")  # a newer request replaces it
        await until(lambda: b.switchover_request(GROUP) == "any", what="newer request")
        assert not await b.ack_switchover(GROUP, "cache-2")  # must not erase the newer one
        assert await b.ack_switchover(GROUP, "any")
        await until(lambda: b.switchover_request(GROUP) is None, what="request cleared")
        await b.close()

    run(scenario())
