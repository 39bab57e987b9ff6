"""``run --kubernetes`` with a group's ``authSecretRef``: the daemons log in to Valkey pods
that load the manifests' ACL file, bootstrap, lift the start fence and fail over.

Why: the ACL test checks each command the daemon user sends; this checks the wiring from the
ValkeyGroup to the daemon's node links (authSecretRef -> the mounted daemon-password ->
``GroupConfig.username/password``), which would otherwise leave every probe at NOAUTH.
"""

from __future__ import annotations

import contextlib
import dataclasses
import signal
from pathlib import Path

import pytest
from kubernetes import client

from gungnir.kube.run import start_kubernetes

from .apiserver import ApiServer
from .conftest import run, until
from .kube_daemons import GROUP, VOTERS, KubeCluster
from .valkey_pod import PASSWORDS, DaemonAuthedNode, call, make_pod_files, pod_conf

pytestmark = pytest.mark.slow


def test_daemons_with_the_mounted_password_bootstrap_and_fail_over(
    api: ApiServer, kc: client.ApiClient, tmp_path: Path
) -> None:
    files = make_pod_files(tmp_path / "pod")
    mounts = tmp_path / "valkey-auth-mounts"
    (mounts / "valkey-auth").mkdir(parents=True)
    (mounts / "valkey-auth" / "daemon-password").write_text(PASSWORDS["daemon"] + "\n")

    def node(i: int) -> DaemonAuthedNode:
        (tmp_path / f"valkey-{i}").mkdir()
        return DaemonAuthedNode(
            name=f"valkey-{i}", workdir=tmp_path / f"valkey-{i}", conf_lines=pod_conf(files)
        )

    async def main() -> None:
        with contextlib.ExitStack() as stack:
            nodes = [stack.enter_context(node(i)) for i in range(3)]
            for replica in nodes[1:]:
                replica.replicaof(nodes[0])  # refused a sync until the daemons vet valkey-0
            c = KubeCluster(api, kc, tmp_path)
            c.setup(nodes, authSecretRef={"name": "valkey-auth"})
            try:
                for voter in VOTERS:
                    opts = dataclasses.replace(c.options(voter), valkey_auth_dir=mounts)
                    c.wirings[voter] = await start_kubernetes(opts)
                for w in c.wirings.values():
                    assert w.daemon.config.groups[GROUP].username == "gungnir"
                await until(lambda: c.primaries() == {"valkey-0"}, 15, "bootstrap")

                def written(n: DaemonAuthedNode) -> bool:
                    return call(n.address, "app", ("SET", "k", n.name)) == [b"OK"]

                await until(lambda: written(nodes[0]), 15, "the start fence lifted on valkey-0")
                await until(
                    lambda: call(nodes[0].address, "app", ("WAIT", "2", "100")) == [2],
                    15,
                    "both replicas to sync as the replication user",
                )
                nodes[0].kill(signal.SIGKILL)
                await until(
                    lambda: len(c.primaries()) == 1 and c.primaries() != {"valkey-0"},
                    20,
                    "failover",
                )
                (new,) = c.primaries()
                await until(lambda: written(nodes[int(new[-1])]), 15, f"writes on {new}")
            finally:
                await c.stop()

    run(main(), timeout=90)
