"""A scripted RESP server on 127.0.0.1 for adversity a real valkey-server will not produce
on demand: a RESP2-only server (NOPROTO), a reply cut off mid-way, bytes that are not RESP,
a server that accepts and then never answers.

It is a test helper, not a mock of Valkey: tests of real behaviour use real servers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from gungnir.resp import NEED_DATA, Reader

#: A script maps the command (list of bytes) to raw bytes to send, or None to close.
Script = Callable[[list[bytes]], bytes | None]


class StubServer:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.commands: list[list[bytes]] = []
        self.server: asyncio.Server | None = None
        self.port = 0

    async def __aenter__(self) -> StubServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: Any) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        reader = Reader()
        try:
            while True:
                data = await r.read(65536)
                if not data:
                    return
                reader.feed(data)
                while (cmd := reader.gets()) is not NEED_DATA:
                    self.commands.append(cmd)
                    out = self.script(cmd)
                    if out is None:
                        w.close()
                        return
                    w.write(out)
                await w.drain()
        except ConnectionError:
            pass
        finally:
            w.close()


def resp2_only(cmd: list[bytes]) -> bytes | None:
    """A pre-6 server: no HELLO (NOPROTO); AUTH, CLIENT, SELECT and PING are OK."""
    name = cmd[0].upper()
    if name == b"HELLO":
        return b"-NOPROTO sorry, this protocol version is not supported\r\n"
    if name == b"PING":
        return b"+PONG\r\n"
    if name == b"ECHO":
        return b"$%d\r\n%s\r\n" % (len(cmd[1]), cmd[1])
    return b"+OK\r\n"


async def until(predicate: Callable[[], bool], limit: float = 5.0, what: str = "") -> None:
    """Poll ``predicate`` every loop iteration until true; fail after ``limit`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + limit
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what or predicate}")
        await asyncio.sleep(0.0005)
