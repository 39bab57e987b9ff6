"""TLS against a real TLS endpoint (stunnel in front of valkey-server)."""

from __future__ import annotations

import asyncio
import ssl

import pytest

from gungnir.client import ConnectError, Message, Pool, connect

from .tls import stunnel_binary, tls_proxy

pytestmark = pytest.mark.skipif(
    stunnel_binary() is None, reason="needs stunnel (Debian package stunnel4)"
)


@pytest.fixture
def tls_endpoint(valkey_node):
    with tls_proxy(valkey_node.port) as endpoint:
        yield endpoint


def test_commands_pipelines_and_pubsub_over_tls(tls_endpoint, arun_both):
    ep = tls_endpoint

    async def main():
        conn = await connect(ep.host, ep.port, ssl=ep.client_context(), client_name="tls")
        assert conn.protocol_version == 3
        assert await conn.client_getname() == b"tls"
        await conn.set("k", "v")
        assert await conn.get("k") == b"v"
        got = await asyncio.gather(*(conn.echo(f"e{i}") for i in range(500)))
        assert got == [f"e{i}".encode() for i in range(500)]
        pipe = conn.pipeline()
        for _ in range(2000):
            pipe.incr("n")
        assert (await pipe.execute())[-1] == 2000
        blob = bytes(range(256)) * 40_000  # ~10 MB through TLS records
        await conn.set("blob", blob)
        assert await conn.get("blob") == blob
        ps = conn.pubsub()
        await ps.subscribe("tls-ch")
        await conn.publish("tls-ch", "hello")
        assert await ps.get_message(timeout=5) == Message("message", b"tls-ch", b"hello")
        await conn.aclose()

    arun_both(main())


def test_untrusted_certificate_is_a_connect_error(tls_endpoint, arun):
    ep = tls_endpoint

    async def main():
        with pytest.raises(ConnectError) as info:
            await connect(ep.host, ep.port, ssl=ssl.create_default_context(), connect_timeout=5)
        assert info.value.address == (ep.host, ep.port)
        assert isinstance(info.value.__cause__, ssl.SSLCertVerificationError)

    arun(main())


def test_pool_over_tls(tls_endpoint, arun):
    ep = tls_endpoint

    async def main():
        async with Pool(ep.host, ep.port, max_size=2, ssl=ep.client_context()) as pool:
            got = await asyncio.gather(*(pool.echo(f"p{i}") for i in range(20)))
            assert got == [f"p{i}".encode() for i in range(20)]
            assert pool.size <= 2

    arun(main())
