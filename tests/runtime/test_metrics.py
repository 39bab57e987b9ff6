"""Metrics: scrape the real HTTP endpoint and parse it with prometheus-client's parser.

The documented list (docs/metrics.md) is parsed too, so the docs and the code cannot drift:
every documented metric must be exported with the documented type and labels, and every
exported gungnir metric must be documented.
"""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from gungnir.core import (
    ActionResult,
    Config,
    FailoverCommand,
    Fence,
    Notify,
    Persist,
    PersistVoters,
    Promote,
    PublishConfig,
    Repoint,
    SetWriteQuorum,
    Unfence,
)
from gungnir.runtime.metrics import (
    ACTION_KINDS,
    FAILOVER_OUTCOMES,
    FAILOVER_REASONS,
    Metrics,
    MetricsHTTPServer,
)
from gungnir.runtime.telemetry import Telemetry

DOCS = Path(__file__).resolve().parents[2] / "docs" / "metrics.md"


async def http(port: int, request: bytes, *, read_timeout: float = 5.0) -> tuple[int, dict, bytes]:
    """Send raw bytes, read until the server closes; return (status, headers, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(request)
    await writer.drain()
    data = await asyncio.wait_for(reader.read(), read_timeout)
    writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = {}
    for line in lines[1:]:
        key, _, value = line.partition(":")
        headers[key.strip().lower()] = value.strip()
    return status, headers, body


def get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: x\r\n{extra}\r\n".encode()


def drive(metrics: Metrics) -> None:
    """A small, realistic sequence of reports from a runtime."""
    metrics.observe_probe(
        "cache", "10.0.0.1:6379", up=True, latency_seconds=0.002, role="master", offset=5000
    )
    metrics.observe_probe(
        "cache",
        "10.0.0.2:6379",
        up=True,
        latency_seconds=0.003,
        role="slave",
        offset=4800,
        link_up=True,
        lag_bytes=200,
        lag_seconds=1.0,
    )
    metrics.observe_probe("cache", "10.0.0.3:6379", up=False, outcome="timeout")
    metrics.set_safety(
        "cache",
        epoch=7,
        leader="daemon-a",
        is_leader=True,
        quorum_reachable=True,
        peers_reachable=2,
        peers_configured=2,
        nodes_answering_primary=1,
        fenced_nodes=0,
    )
    metrics.reconcile_succeeded("cache", at=1000.0)
    metrics.failover_finished(
        "cache",
        reason="primary_down",
        outcome="success",
        duration_seconds=4.5,
        phases={"detection": 3.0, "election": 0.5, "promotion": 0.7, "routing": 0.3},
    )
    metrics.action("cache", "promote", ok=True)
    metrics.action("cache", "fence", ok=False)
    metrics.peer_message("vote_request", "sent")
    metrics.peer_message("vote_grant", "received")
    metrics.peer_refusal("unknown_peer")
    metrics.peer_auth("daemon-b", False)
    metrics.peer_auth("daemon-c", True)
    metrics.kube_api_error(409)
    metrics.kube_api_error("timeout")


def documented() -> dict[str, tuple[str, list[str]]]:
    """name -> (type, labels) from the tables in docs/metrics.md."""
    rows = {}
    for line in DOCS.read_text().splitlines():
        m = re.match(r"\|\s*`(gungnir_\w+)`\s*\|\s*(\w+)\s*\|\s*([^|]*)\|", line)
        if m:
            labels = [x.strip() for x in m.group(3).split(",") if x.strip()]
            rows[m.group(1)] = (m.group(2), labels)
    return rows


def documented_values(metric: str, label: str) -> set[str]:
    """The values docs/metrics.md lists for ``label`` in ``metric``'s row: the backticked
    words of the "`label` is ..." clause (parenthesised remarks left out)."""
    for line in DOCS.read_text().splitlines():
        if line.startswith(f"| `{metric}` |"):
            meaning = re.sub(r"\([^()]*\)", "", line.split("|")[4])
            clause = meaning.split(f"`{label}` is ", 1)[1]
            return set(re.findall(r"`([^`]+)`", re.split(r"[.;]", clause)[0]))
    raise AssertionError(f"{metric} is not documented")


def family_key(name: str, mtype: str) -> str:
    """The parser drops ``_total`` from counter family names; the docs keep it."""
    return name + "_total" if mtype == "counter" else name


def scrape_families(text: str) -> dict[str, Any]:
    return {family_key(f.name, f.type): f for f in text_string_to_metric_families(text)}


def sample_value(family: Any, suffix: str = "", **labels: str) -> float:
    for s in family.samples:
        if s.name == family.name + suffix and all(s.labels.get(k) == v for k, v in labels.items()):
            return float(s.value)
    raise AssertionError(f"no sample {family.name}{suffix} {labels}")


def test_scrape_parses_and_matches_the_documented_list() -> None:
    async def main() -> str:
        metrics = Metrics(clock=lambda: 1030.0)
        drive(metrics)
        server = MetricsHTTPServer(metrics.registry)
        port = await server.start()
        try:
            status, headers, body = await http(port, get("/metrics"))
        finally:
            await server.close()
        assert status == 200
        assert headers["content-type"].startswith("text/plain")
        return body.decode()

    text = asyncio.run(main())
    families = scrape_families(text)
    ours = {k: f for k, f in families.items() if k.startswith("gungnir_")}
    docs = documented()
    assert len(docs) >= 25  # the tables were parsed at all
    assert set(ours) == set(docs), set(ours) ^ set(docs)
    for name, (mtype, labels) in docs.items():
        family = ours[name]
        assert family.type == mtype, name
        for sample in family.samples:
            extra = {"le"} if mtype == "histogram" else set()
            assert set(sample.labels) - extra == set(labels), (name, sample.labels)
    # Standard process metrics come along.
    assert "process_cpu_seconds_total" in families

    assert sample_value(ours["gungnir_node_up"], node="10.0.0.3:6379") == 0
    assert sample_value(ours["gungnir_node_up"], node="10.0.0.1:6379") == 1
    role = ours["gungnir_node_role"]
    assert sample_value(role, node="10.0.0.1:6379", role="primary") == 1
    assert sample_value(role, node="10.0.0.1:6379", role="replica") == 0
    assert sample_value(role, node="10.0.0.2:6379", role="replica") == 1
    assert sample_value(role, node="10.0.0.3:6379", role="unknown") == 1  # down: role unknown
    probes = ours["gungnir_node_probes_total"]
    assert sample_value(probes, "_total", node="10.0.0.3:6379", outcome="timeout") == 1
    assert sample_value(ours["gungnir_node_replication_lag_bytes"], node="10.0.0.2:6379") == 200
    assert sample_value(ours["gungnir_current_epoch"], group="cache") == 7
    assert sample_value(ours["gungnir_leader_info"], leader="daemon-a") == 1
    assert sample_value(ours["gungnir_time_since_last_reconcile_seconds"]) == 30.0
    assert sample_value(ours["gungnir_last_reconcile_success_timestamp_seconds"]) == 1000.0
    fo = ours["gungnir_failovers_total"]
    assert sample_value(fo, "_total", reason="primary_down", outcome="success") == 1
    phase = ours["gungnir_failover_phase_duration_seconds"]
    assert sample_value(phase, "_count", phase="election") == 1
    assert sample_value(phase, "_sum", phase="detection") == 3.0
    assert sample_value(ours["gungnir_failover_duration_seconds"], "_bucket", le="5.0") == 1
    assert sample_value(ours["gungnir_failover_duration_seconds"], "_bucket", le="3.0") == 0
    assert sample_value(ours["gungnir_actions_failed_total"], "_total", kind="fence") == 1
    assert sample_value(ours["gungnir_actions_executed_total"], "_total", kind="fence") == 1
    msgs = ours["gungnir_peer_messages_total"]
    assert sample_value(msgs, "_total", type="vote_grant", direction="received") == 1
    refused = ours["gungnir_peer_auth_refused"]
    assert sample_value(refused, peer="daemon-b") == 0  # exported at 0, so alerts see it
    assert sample_value(refused, peer="daemon-c") == 1
    kube = ours["gungnir_kubernetes_api_errors_total"]
    assert sample_value(kube, "_total", code="409") == 1
    assert sample_value(kube, "_total", code="timeout") == 1


def test_documented_label_values_are_the_allowed_ones() -> None:
    assert documented_values("gungnir_actions_executed_total", "kind") == set(ACTION_KINDS)
    assert documented_values("gungnir_failovers_total", "reason") == set(FAILOVER_REASONS)
    assert documented_values("gungnir_failovers_total", "outcome") == set(FAILOVER_OUTCOMES)


def test_the_runtime_reaches_every_allowed_label_value() -> None:
    """Each allowed ``kind``, ``reason`` and ``outcome`` is one the telemetry really reports
    for something the daemon does: no value is documented that nothing sets."""
    from prometheus_client import generate_latest

    m = Metrics(process_metrics=False)
    t = Telemetry(m, wall=lambda: 0.0)
    g = "cache"
    node_actions = (
        Fence("n1", 2),
        Unfence("n1", 2),
        Promote("n2", 2),
        FailoverCommand("n1", "n2", 2, 1000),
        Repoint("n3", "n2", 2),
        SetWriteQuorum("n2", 2, 1, 10),
    )
    for action in node_actions:
        t.event(g, ActionResult(action, True))
        t.event(g, ActionResult(action, False, "refused"))
    t.action(g, Persist(2, "d1"), 0.0)
    t.action(g, PersistVoters(("d1", "d2", "d3"), (), 1), 0.0)
    t.action(g, PublishConfig(Config(2, "n2", ("n1", "n3"))), 0.0)
    # An automatic failover that ends, then an operator's switchover that is aborted.
    for at, event, detail in (
        (1.0, "+sdown", "n1"),
        (1.5, "+odown", "n1"),
        (2.0, "+try-failover", "failover n2 epoch 2"),
        (2.1, "+elected-leader", "2"),
        (2.5, "+promoted-slave", "n2"),
        (3.0, "+failover-end", "n2 epoch 2"),
        (4.0, "+try-failover", "switchover n1 epoch 3"),
        (4.1, "+elected-leader", "3"),
        (9.0, "-failover-abort", "epoch 3: timeout"),
    ):
        t.action(g, Notify(event, detail), at)
    fams = scrape_families(generate_latest(m.registry).decode())

    def labels(name: str, *keys: str) -> set[tuple[str, ...]]:
        return {tuple(s.labels[k] for k in keys) for s in fams[name].samples if s.value}

    assert labels("gungnir_actions_executed_total", "kind") == {(k,) for k in ACTION_KINDS}
    assert labels("gungnir_actions_failed_total", "kind") == {
        (k,) for k in ACTION_KINDS if k not in ("persist", "publish")
    }
    assert labels("gungnir_failovers_total", "reason", "outcome") == {
        ("primary_down", "success"),
        ("manual", "aborted"),
    }
    assert {r for r, _ in labels("gungnir_failovers_total", "reason", "outcome")} == set(
        FAILOVER_REASONS
    )
    assert {o for _, o in labels("gungnir_failovers_total", "reason", "outcome")} == set(
        FAILOVER_OUTCOMES
    )


def test_leader_change_and_forget_node_remove_stale_series() -> None:
    metrics = Metrics(process_metrics=False)
    drive(metrics)
    metrics.set_safety("cache", leader="daemon-b")
    metrics.forget_node("cache", "10.0.0.3:6379")
    from prometheus_client import generate_latest

    fams = scrape_families(generate_latest(metrics.registry).decode())
    leaders = [s.labels["leader"] for s in fams["gungnir_leader_info"].samples]
    assert leaders == ["daemon-b"]
    for name in ("gungnir_node_up", "gungnir_node_probes_total", "gungnir_node_role"):
        nodes = {s.labels["node"] for s in fams[name].samples}
        assert "10.0.0.3:6379" not in nodes, name
        assert "10.0.0.1:6379" in nodes, name
    metrics.forget_group("cache")
    fams = scrape_families(generate_latest(metrics.registry).decode())
    assert not fams["gungnir_node_up"].samples
    assert not fams["gungnir_leader_info"].samples
    assert not fams["gungnir_time_since_last_reconcile_seconds"].samples
    # History survives: counters are not dropped with the group.
    assert fams["gungnir_failovers_total"].samples


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.observe_probe("g", "n", up=True, outcome="maybe"),
        lambda m: m.failover_finished("g", reason="boredom", outcome="success"),
        lambda m: m.failover_finished("g", reason="manual", outcome="meh"),
        lambda m: m.failover_finished("g", reason="manual", outcome="success", phases={"x": 1}),
        lambda m: m.action("g", "dance", ok=True),
        lambda m: m.peer_message("vote", "sideways"),
    ],
)
def test_unbounded_label_values_are_refused(call: Any) -> None:
    with pytest.raises(ValueError):
        call(Metrics(process_metrics=False))


def test_kube_error_codes_are_bounded() -> None:
    metrics = Metrics(process_metrics=False)
    metrics.kube_api_error("something odd\nwith newline")
    metrics.kube_api_error(503)
    from prometheus_client import generate_latest

    fams = scrape_families(generate_latest(metrics.registry).decode())
    codes = {s.labels["code"] for s in fams["gungnir_kubernetes_api_errors_total"].samples}
    assert codes == {"other", "503"}


def test_health_and_readiness_follow_the_callbacks() -> None:
    state = {"ready": False, "live": True}

    async def async_ready() -> tuple[bool, str]:
        await asyncio.sleep(0)
        return state["ready"], "loaded" if state["ready"] else "state not loaded"

    async def main() -> None:
        metrics = Metrics(process_metrics=False)
        server = MetricsHTTPServer(metrics.registry, ready=async_ready, live=lambda: state["live"])
        port = await server.start()
        try:
            status, _, body = await http(port, get("/readyz"))
            assert (status, body) == (503, b"state not loaded\n")
            assert (await http(port, get("/healthz")))[0] == 200
            state["ready"] = True
            status, _, body = await http(port, get("/readyz"))
            assert (status, body) == (200, b"loaded\n")
            state["live"] = False
            assert (await http(port, get("/healthz")))[0] == 503

            def broken() -> bool:
                raise RuntimeError("probe exploded")

            server.ready = broken
            status, _, body = await http(port, get("/readyz"))
            assert status == 503 and b"probe exploded" in body
        finally:
            await server.close()

    asyncio.run(main())


def test_http_edge_cases_get_clear_answers() -> None:
    async def main() -> None:
        metrics = Metrics(process_metrics=False)
        server = MetricsHTTPServer(metrics.registry, header_timeout=0.3, max_header_bytes=1024)
        port = await server.start()
        try:
            assert (await http(port, get("/nope")))[0] == 404
            status, headers, _ = await http(port, b"POST /metrics HTTP/1.1\r\n\r\n")
            assert status == 405 and headers["allow"] == "GET, HEAD"
            status, headers, body = await http(port, b"HEAD /metrics HTTP/1.1\r\n\r\n")
            assert status == 200 and body == b"" and int(headers["content-length"]) > 0
            assert (await http(port, b"garbage\r\n\r\n"))[0] == 400
            big = b"GET /metrics HTTP/1.1\r\nX: " + b"a" * 4096 + b"\r\n\r\n"
            assert (await http(port, big))[0] == 431
            # A client that never finishes its headers is answered when the deadline passes.
            assert (await http(port, b"GET /metrics HTTP/1.1\r\n"))[0] == 408
            om = "Accept: application/openmetrics-text; version=1.0.0\r\n"
            status, headers, body = await http(port, get("/metrics", om))
            assert status == 200
            assert headers["content-type"].startswith("application/openmetrics-text")
            assert body.endswith(b"# EOF\n")
            # Still serving after all of that.
            assert (await http(port, get("/metrics")))[0] == 200
        finally:
            await server.close()

    asyncio.run(main())


def test_alert_rules_use_only_documented_metrics() -> None:
    import yaml

    path = DOCS.parents[1] / "k8s" / "monitoring" / "prometheusrule.yaml"
    doc = yaml.safe_load(path.read_text())
    assert doc["apiVersion"] == "monitoring.coreos.com/v1"
    assert doc["kind"] == "PrometheusRule"
    rules = [r for g in doc["spec"]["groups"] for r in g["rules"]]
    names = {r["alert"] for r in rules}
    for required in (
        "GungnirSplitBrain",
        "GungnirNoQuorum",
        "GungnirFailoverHappened",
        "GungnirReplicaLagBytes",
    ):
        assert required in names
    known = set(documented())
    for rule in rules:
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")"), rule["alert"]
        used = set(re.findall(r"gungnir_\w+", expr))
        assert used, rule["alert"]
        assert used <= known, (rule["alert"], used - known)


def test_before_scrape_runs_and_its_failure_serves_the_last_values() -> None:
    metrics = Metrics(process_metrics=False)
    calls = []

    def sync() -> None:
        calls.append(1)
        metrics.set_node("g", "n1", up=len(calls) == 1)
        if len(calls) > 1:
            raise RuntimeError("state unavailable")

    async def main() -> None:
        server = MetricsHTTPServer(metrics.registry, before_scrape=sync)
        port = await server.start()
        try:
            for expected_up in (1, 0):
                status, _, body = await http(port, get("/metrics"))
                assert status == 200
                fams = scrape_families(body.decode())
                assert sample_value(fams["gungnir_node_up"], node="n1") == expected_up
        finally:
            await server.close()

    asyncio.run(main())
    assert len(calls) == 2


@pytest.mark.slow
def test_daemon_metrics_endpoint_follows_a_failover(tmp_path: Path) -> None:
    """Three real daemons over a real group, each serving these metrics on its
    ``metrics_bind``: /readyz turns ready (every group has a primary), the series are named
    by the configured node names, and after a SIGKILL of the primary the scrape shows
    the new primary, the dead one as down with role unknown, a higher epoch, one primary."""
    import signal
    import time

    from gungnir.local import start_group
    from gungnir.runtime.cluster import InProcessCluster, cluster_docs

    async def scrape(port: int) -> dict[str, Any]:
        status, _, body = await http(port, get("/metrics"))
        assert status == 200
        return scrape_families(body.decode())

    def value(fams: dict[str, Any], name: str, **labels: str) -> float:
        return sample_value(fams[name], **labels)

    async def until(cond: Any, what: str, limit: float = 20) -> Any:
        deadline = time.monotonic() + limit
        while not (result := await cond()):
            assert time.monotonic() < deadline, what
            await asyncio.sleep(0.05)
        return result

    async def main() -> None:
        with start_group(replicas=2) as g:
            nodes = {n.name: (n.host, n.port) for n in g.nodes}
            docs = cluster_docs(nodes, tmp_path, group="cache")
            for doc in docs:
                doc["daemon"]["metrics_bind"] = "127.0.0.1:0"
            async with InProcessCluster(docs) as c:
                port = c.daemons["d1"].metrics_port
                assert port > 0

                async def ready() -> bool:
                    return (await http(port, get("/readyz")))[0] == 200

                await until(ready, "d1 to be ready")
                assert (await http(port, get("/healthz")))[0] == 200

                async def settled() -> Any:
                    fams = await scrape(port)
                    try:
                        ok = (
                            value(fams, "gungnir_node_role", node="node-0", role="primary") == 1
                            and value(fams, "gungnir_peers_reachable", group="cache") == 2
                            and value(fams, "gungnir_node_link_up", node="node-1") == 1
                        )
                    except AssertionError:  # a series not reported yet
                        return False
                    return ok and fams

                fams = await until(settled, "d1 to see the group and its peers")
                # The daemon exports the process and interpreter metrics the docs promise.
                for name in ("process_cpu_seconds_total", "process_open_fds", "python_info"):
                    assert name in fams, name
                assert value(fams, "gungnir_nodes_answering_primary") == 1
                assert value(fams, "gungnir_quorum_reachable") == 1
                assert value(fams, "gungnir_node_role", node="node-2", role="replica") == 1
                epoch_before = value(fams, "gungnir_current_epoch")

                g.primary.kill(signal.SIGKILL)

                async def failed_over() -> Any:
                    fams = await scrape(port)
                    primaries = [
                        s.labels["node"]
                        for s in fams["gungnir_node_role"].samples
                        if s.labels["role"] == "primary" and s.value == 1
                    ]
                    down = value(fams, "gungnir_node_up", node="node-0") == 0
                    return down and len(primaries) == 1 and primaries != ["node-0"] and fams

                fams = await until(failed_over, "d1's gauges to show the new primary")
                assert value(fams, "gungnir_current_epoch") > epoch_before
                assert value(fams, "gungnir_node_role", node="node-0", role="unknown") == 1
                assert value(fams, "gungnir_nodes_answering_primary") == 1

    asyncio.run(main())
