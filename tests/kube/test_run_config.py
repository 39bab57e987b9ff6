"""``run --kubernetes`` configuration: options, addresses from pods, the DaemonConfig."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client

from gungnir.kube.run import (
    NOWHERE,
    PEER_PORT,
    CredentialsError,
    KubeRunOptions,
    OptionsError,
    build_config,
    container_port,
    group_credentials,
    node_addresses,
    options_from_env,
    peer_addresses,
)
from gungnir.kube.spec import kube_options

from .apiserver import ApiServer
from .conftest import DAEMONS, GROUP, NS, Kubelet, backend, run, until

ENV = {
    "GUNGNIR_NODE_NAME": "n1",
    "GUNGNIR_POD_NAME": "gungnir-n1",
    "GUNGNIR_DAEMON_SELECTOR": DAEMONS,
    "GUNGNIR_SECRET": "s" * 16,
}


def test_options_come_from_the_daemonset_environment_and_flags_win(tmp_path: Path) -> None:
    opts = options_from_env(ENV, state_dir=str(tmp_path), bind="127.0.0.1:7000")
    assert (opts.node_name, opts.pod_name, opts.daemon_selector) == ("n1", "gungnir-n1", DAEMONS)
    assert opts.bind == ("127.0.0.1", 7000)
    assert opts.metrics_bind == ("0.0.0.0", 8080)
    assert opts.host is None and opts.kubeconfig is None  # in-cluster by default
    assert options_from_env(ENV, state_dir="x", id="other").node_name == "other"
    secret = tmp_path / "secret"
    secret.write_text("from-a-file-123\n")
    assert options_from_env(ENV, state_dir="x", secret_file=str(secret)).secret == "from-a-file-123"


@pytest.mark.parametrize(
    ("drop", "flags", "message"),
    [
        ("GUNGNIR_NODE_NAME", {"state_dir": "x"}, "GUNGNIR_NODE_NAME"),
        ("GUNGNIR_SECRET", {"state_dir": "x"}, "GUNGNIR_SECRET"),
        ("GUNGNIR_DAEMON_SELECTOR", {"state_dir": "x"}, "GUNGNIR_DAEMON_SELECTOR"),
        (None, {}, "--state-dir"),
    ],
)
def test_missing_options_are_named(drop: str | None, flags: dict, message: str) -> None:
    env = {k: v for k, v in ENV.items() if k != drop}
    with pytest.raises(OptionsError, match=message):
        options_from_env(env, **flags)


def test_group_credentials_come_from_the_mounted_secret(tmp_path: Path) -> None:
    """A group with authSecretRef logs in as the gungnir user with the mounted password; a
    missing mount stops that group instead of probing without credentials."""
    assert group_credentials(None, tmp_path) == (None, None)
    with pytest.raises(CredentialsError, match="daemon-password"):
        group_credentials("valkey-auth", tmp_path)
    (tmp_path / "valkey-auth").mkdir()
    (tmp_path / "valkey-auth" / "daemon-password").write_text("")
    with pytest.raises(CredentialsError, match="empty"):
        group_credentials("valkey-auth", tmp_path)
    (tmp_path / "valkey-auth" / "daemon-password").write_text("d-pass-1234\n")
    assert group_credentials("valkey-auth", tmp_path) == ("gungnir", "d-pass-1234")
    opts = options_from_env({**ENV, "GUNGNIR_VALKEY_AUTH_DIR": str(tmp_path)}, state_dir="x")
    assert opts.valkey_auth_dir == tmp_path


def test_auth_secret_ref_is_parsed_and_checked() -> None:
    assert kube_options("g", {})["auth_secret"] is None
    assert kube_options("g", {"authSecretRef": {"name": "s"}})["auth_secret"] == "s"
    with pytest.raises(ValueError, match="authSecretRef"):
        kube_options("g", {"authSecretRef": {"key": "s"}})


def test_container_port_by_name() -> None:
    pod = {"spec": {"containers": [{"ports": [{"name": "valkey", "containerPort": 6380}]}]}}
    assert container_port(pod, "valkey") == 6380
    assert container_port(pod, "peer") is None
    assert container_port({}, "valkey") is None


def test_build_config_from_the_api(
    api: ApiServer, kc: client.ApiClient, cluster: Kubelet, tmp_path: Path
) -> None:
    async def main() -> None:
        b = backend(api.url)
        await b.start()
        try:
            opts = KubeRunOptions(
                node_name="n1", state_dir=tmp_path, daemon_selector=DAEMONS, secret="s" * 16
            )
            cfg = build_config(b, opts)
            assert cfg.id == "n1"
            g = cfg.groups[GROUP]
            assert g.settings.nodes == ("cache-0", "cache-1", "cache-2")
            assert g.settings.voters == ("n1", "n2", "n3")
            # The pods' IPs; no 'valkey' container port: the group's spec.port.
            assert dict(g.nodes) == {f"cache-{i}": (f"10.0.0.{10 + i}", 6379) for i in range(3)}
            # Every daemon pod is a peer (n4 observes), by node name, on the peer port.
            assert set(cfg.peers) == {"n1", "n2", "n3", "n4"}
            assert cfg.peers["n2"] == ("10.1.0.2", PEER_PORT)
            assert cfg.peers["n1"] == opts.bind
            # A pod that is not running has no address yet.
            cluster.set_ip("cache-1", "")
            client.CoreV1Api(kc).patch_namespaced_pod_status(
                "cache-1",
                NS,
                {"status": {"phase": "Pending"}},
                _content_type="application/merge-patch+json",
            )
            await until(lambda: node_addresses(b, GROUP)["cache-1"] == NOWHERE, 5, "pending pod")
            # Voters named by daemon pod name map to the same pods.
            peers = peer_addresses(b, {"gungnir-n2", "n3", "missing"})
            assert peers["gungnir-n2"] == ("10.1.0.2", PEER_PORT)
            assert "n2" not in peers
            assert peers["missing"] == NOWHERE
        finally:
            await b.close()

    run(main())


def test_cli_run_needs_a_config_or_kubernetes(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from gungnir.cli import main

    for var in ENV:
        monkeypatch.delenv(var, raising=False)
    assert main(["run"]) == 2
    assert "--config FILE (or --kubernetes)" in capsys.readouterr().err
    assert main(["run", "--kubernetes", f"--state-dir={tmp_path}", "--id=n1"]) == 2
    assert "GUNGNIR_DAEMON_SELECTOR" in capsys.readouterr().err
    assert main(["run", "--kubernetes", "--config", "x.yaml"]) == 2
    assert "exclude each other" in capsys.readouterr().err
