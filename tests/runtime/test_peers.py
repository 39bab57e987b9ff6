"""Peer links: only authenticated, configured peers get messages in; TLS works."""

from __future__ import annotations

import asyncio
import shutil
import subprocess

import pytest

from gungnir.client import connect
from gungnir.core import DownReport
from gungnir.local import free_port
from gungnir.runtime.cluster import InProcessCluster, cluster_docs
from gungnir.runtime.peers import mac
from gungnir.runtime.wire import encode

from .support import until

SECRET = "0123456789abcdef"


def docs(tmp_path, **daemon):
    # Nodes that do not exist: these tests are about the peer endpoint only.
    nodes = {"n1": ("127.0.0.1", free_port()), "n2": ("127.0.0.1", free_port())}
    out = cluster_docs(nodes, tmp_path, secret=SECRET)
    for d in out:
        d["daemon"].update(daemon)
    return out


async def call(port, *cmd):
    conn = await connect("127.0.0.1", port, command_timeout=2.0)
    try:
        return await conn.execute(*cmd)
    finally:
        conn.close()


async def authed(port, name, secret=SECRET):
    conn = await connect("127.0.0.1", port, command_timeout=2.0)
    nonce = await conn.execute("GUNGNIR.NONCE")
    await conn.execute("GUNGNIR.AUTH", name, mac(secret, bytes(nonce), name))
    return conn


def test_unauthenticated_unknown_and_impersonating_peers_are_refused(tmp_path):
    async def main():
        c = InProcessCluster(docs(tmp_path)[:1])
        await c.start()
        d = c.daemons["d1"]
        try:
            msg = encode(DownReport("demo", "d2", "n1", True, 0))
            with pytest.raises(Exception, match="NOPERM"):
                await call(d.port, "GUNGNIR.MSG", msg)
            assert d.hub.refused == 1
            with pytest.raises(Exception, match="NOPERM unknown peer"):
                await authed(d.port, "mallory")
            with pytest.raises(Exception, match="NOPERM bad secret"):
                await authed(d.port, "d2", secret="not-the-secret")
            with pytest.raises(Exception, match=r"NOPERM GUNGNIR\.NONCE first"):
                await call(d.port, "GUNGNIR.AUTH", "d2", "00")
            assert d.hub.refused == 4
            conn = await authed(d.port, "d2")
            with pytest.raises(Exception, match="cannot send as d3"):
                await conn.execute("GUNGNIR.MSG", encode(DownReport("demo", "d3", "n1", True, 0)))
            assert d.hub.refused == 5
            with pytest.raises(Exception, match="bad message"):
                await conn.execute("GUNGNIR.MSG", b"{not json")
            assert d.hub.bad_messages == 1
            assert await conn.execute("GUNGNIR.MSG", msg) == b"OK"
            assert d.hub.received == 1
            await until(
                lambda: any(r[0] == "d2" for r in d.groups["demo"].state.reports),
                5,
                "the authenticated report to reach the core",
            )
            conn.close()
            assert d.failed is None
        finally:
            await c.stop()

    asyncio.run(main())


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl tool")
def test_peer_links_over_tls(tmp_path):
    def run(*args):
        subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=tmp_path)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=gungnir-test-ca")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "d.key", "-out", "d.csr",
        "-subj", "/CN=gungnir-peer")  # fmt: skip
    (tmp_path / "ext").write_text("subjectAltName=DNS:gungnir-peer\n")
    run("x509", "-req", "-in", "d.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-out", "d.pem", "-days", "2", "-extfile", "ext")  # fmt: skip
    tls = {
        "cert": str(tmp_path / "d.pem"),
        "key": str(tmp_path / "d.key"),
        "ca": str(tmp_path / "ca.pem"),
        "server_name": "gungnir-peer",
    }

    async def main():
        async with InProcessCluster(docs(tmp_path, tls=tls)) as c:
            await until(
                lambda: all(link.up for d in c.daemons.values() for link in d.links.values()),
                10,
                "every TLS peer link up",
            )
            # A plain-text client cannot talk to a TLS endpoint.
            with pytest.raises(Exception):  # noqa: B017
                await call(c.daemons["d1"].port, "PING")

    asyncio.run(main())
