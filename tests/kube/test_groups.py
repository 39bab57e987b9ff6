"""ValkeyGroup: spec -> settings, validation as status conditions, status, switchover."""

from __future__ import annotations

import pytest
from kubernetes import client

from gungnir.core import Settings
from gungnir.kube import StaleEpoch, kube_options, spec_to_settings
from gungnir.kube.groups import merge_conditions
from gungnir.kube.spec import parse_duration

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
    "maxLag": "3s",
    "failoverTimeout": "1m30s",
    "parallelSyncs": 2,
    "port": 6380,
    "service": "cache-rw",
}


def test_good_spec_becomes_the_cores_settings() -> None:
    s, problems = spec_to_settings("cache", GOOD)
    assert problems == []
    # Only what the spec sets: the core's defaults stay the one source of defaults.
    assert s == {
        "group": "cache",
        "voters": ("n1", "n2", "n3"),
        "policy": "consistency",
        "down_after": 5.0,
        "probe_interval": 0.5,
        "failover_timeout": 90.0,
        "fence_after": 2.0,
        "promote_after": 4.0,
        "max_clock_drift": 0.25,
        "max_lag": 3.0,
        "parallel_syncs": 2,
    }
    core = Settings(**s, nodes=("cache-0", "cache-1"))  # the core accepts it as is
    assert core.quorum == Settings.quorum and core.fence_after == 2.0
    assert kube_options("cache", GOOD) == {
        "selector": "gungnir.io/group=cache",
        "primary_service": "cache-rw",
        "read_service": "cache-read",
        "port": 6380,
        "auth_secret": None,
    }


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        ({"quorum": 4}, "quorum 4 > 3 voters: the primary could never be down"),
        ({"voters": ["a", "b"]}, "voters must name 3 or 5 daemons (got 2)"),
        ({"voters": ["a", "a", "b"]}, "voters has duplicates"),
        ({"policy": "yolo"}, "policy must be one of"),
        ({"downAfter": "5 seconds"}, "spec.downAfter: not a duration"),
        ({"downAfter": "10s", "reportTtl": "6s"}, "report_ttl must be >= down_after"),
        ({"promoteAfter": "2.5s"}, "timing rule broken: fence_after + probe_interval"),
        ({"parallelSyncs": "2"}, "spec.parallelSyncs: must be an integer"),
        ({"port": 70000}, "spec.port: 70000 is not a TCP port"),
        ({"quorom": 2}, "spec.quorom: unknown field"),
        ({"selector": {"matchLabels": {}}}, "spec.selector: matchLabels must be"),
        ({"initialPrimary": "cache-9"}, "initial_primary 'cache-9' is not one of nodes"),
    ],
)
def test_bad_specs_are_reported_clearly(change: dict, needle: str) -> None:
    spec = {k: v for k, v in (GOOD | change).items() if v is not None}
    _, problems = spec_to_settings("cache", spec, nodes=["cache-0", "cache-1"])
    assert any(needle in p for p in problems), problems


def test_missing_voters() -> None:
    _, problems = spec_to_settings("cache", {})
    assert problems == ["spec.voters: required (name 3 or 5 nodes or daemon pods)"]


@pytest.mark.parametrize(
    ("text", "seconds"), [("500ms", 0.5), ("1m30s", 90.0), ("2h", 7200.0), (3, 3.0), ("0s", 0.0)]
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "5 s", "s", "1m-2s", True])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


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
        assert "quorum 5 > 3 voters: the primary could never be down" in cond["message"]
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


def test_spec_report_is_retried_after_api_trouble(
    api: ApiServer, kc: client.ApiClient, cluster: Kubelet
) -> None:
    async def scenario() -> None:
        b = backend(api.url)
        with api.fault(method="PUT", path="valkeygroups/.*/status", status=503, times=4):
            await b.start()
            await until(lambda: b.stats.errors("unavailable") >= 3, what="first report failed")
        await until(
            lambda: (_cond(_group(kc), "SpecValid") or {}).get("status") == "True",
            what="SpecValid reported after the trouble",
        )
        await b.close()

    run(scenario())
