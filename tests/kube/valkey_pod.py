"""A Valkey pod of k8s/base on 127.0.0.1: what the ConfigMap's start.sh writes from a Secret,
and valkey-server processes that read it, for the tests of the Valkey users.
"""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gungnir import resp
from gungnir.faults.daemons import ConfigFileNode
from gungnir.runtime.prober import NodeLink

from .conftest import REPO

PASSWORDS = {"daemon": "d-pass-0123456789", "replication": "r-pass-0123456789", "app": "a-pass-0"}
USERS = {"daemon": "gungnir", "replication": "default", "app": "app"}
POD_ONLY = ("dir ", "bind ", "port ", "appendonly ")
MEMORY_LIMIT = 512 * 1024 * 1024


def configmap() -> dict[str, str]:
    doc = yaml.safe_load((REPO / "k8s/base/valkey-configmap.yaml").read_text())
    return dict(doc["data"])


def call(address: tuple[str, int], who: str | None, *cmds: tuple[Any, ...]) -> list[Any]:
    """Send ``cmds`` on one fresh connection, logged in as ``who`` first (None: anonymous)."""
    if who is not None:
        cmds = (("AUTH", USERS[who], PASSWORDS[who]), *cmds)
    with socket.create_connection(address, timeout=5) as sock:
        sock.sendall(b"".join(resp.pack_command(*c) for c in cmds))
        reader, out = resp.Reader(), []
        while len(out) < len(cmds):
            reply = reader.gets()
            if reply is resp.NEED_DATA:
                chunk = sock.recv(65536)
                assert chunk, "connection closed mid-reply"
                reader.feed(chunk)
            else:
                out.append(reply)
    return out[1:] if who is not None else out


@dataclass
class DaemonAuthedNode(ConfigFileNode):
    """A node of the pod's config; the harness's own commands log in as the daemon user."""

    def command(self, *args: Any, timeout: float = 5.0) -> Any:
        return call(self.address, "daemon", args)[0]


def start_sh(template: Path, auth: Path, run: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the ConfigMap's start.sh up to the point where it would exec valkey-server."""
    paths = {"VALKEY_ACL_TEMPLATE": template, "VALKEY_AUTH_DIR": auth, "VALKEY_RUN_DIR": run}
    env = {"PATH": "/usr/bin:/bin", "VALKEY_NO_EXEC": "1", **env}
    env.update({k: str(v) for k, v in paths.items()})
    script = template.parent / "start.sh"
    return subprocess.run(["sh", str(script)], env=env, capture_output=True, text=True, timeout=30)


def daemon_link(node: ConfigFileNode, names: dict[tuple[str, int], str]) -> NodeLink:
    """The link a daemon probes and acts on ``node`` with: logged in as the gungnir user."""
    return NodeLink(
        names[node.address],
        node.address,
        names=names,
        username=USERS["daemon"],
        password=PASSWORDS["daemon"],
    )


def make_pod_files(base: Path) -> Path:
    """Run start.sh as a pod would, from a Secret holding :data:`PASSWORDS`; return ``base``
    (``base/auth`` the Secret's files, ``base/run`` what start.sh wrote)."""
    data = configmap()
    (base / "auth").mkdir(parents=True)
    (base / "run").mkdir()
    for who, pw in PASSWORDS.items():
        (base / "auth" / f"{who}-password").write_text(pw)
    for name in ("start.sh", "users.acl"):
        (base / name).write_text(data[name])
    out = start_sh(base / "users.acl", base / "auth", base / "run", MEMORY_LIMIT=str(MEMORY_LIMIT))
    assert out.returncode == 0, out.stderr
    return base


def pod_conf(files: Path) -> list[str]:
    lines = [ln.strip() for ln in configmap()["valkey.conf"].splitlines()]
    lines = [ln for ln in lines if ln and not ln.startswith(("#", *POD_ONLY))]
    where = {"aclfile": files / "run/users.acl", "include": files / "run/runtime.conf"}
    return [f"{ln.split()[0]} {where[ln.split()[0]]}" if ln.split()[0] in where else ln
            for ln in lines]  # fmt: skip
