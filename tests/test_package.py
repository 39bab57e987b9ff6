"""The package as a user installs it: the command, the version, the codec selection."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

import gungnir
from gungnir import resp


def _run(
    *argv: str, env: dict[str, str] | None = None, cwd: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        cwd=cwd,
    )


def test_version_flag_matches_package() -> None:
    out = _run(sys.executable, "-m", "gungnir", "--version")
    assert out.returncode == 0
    assert out.stdout.strip() == f"gungnir {gungnir.__version__}"


def test_help_lists_the_subcommands() -> None:
    out = _run(sys.executable, "-m", "gungnir", "--help")
    assert out.returncode == 0
    for command in ("demo", "verify"):
        assert command in out.stdout


def test_console_script_is_installed() -> None:
    script = os.path.join(os.path.dirname(sys.executable), "gungnir")
    out = _run(script, "--version")
    assert out.returncode == 0 and gungnir.__version__ in out.stdout


def test_compiled_codec_is_active_when_built() -> None:
    """In the test environment the extension is built, so it must be the one in use."""
    if os.environ.get("GUNGNIR_PURE") == "1":
        pytest.skip("pure mode forced for this run")
    assert resp.IMPLEMENTATION == "cython"


@pytest.mark.parametrize(("env", "expected"), [({"GUNGNIR_PURE": "1"}, "python")])
def test_pure_fallback_switch(env: dict[str, str], expected: str) -> None:
    code = (
        "from gungnir import resp\n"
        "r = resp.Reader(); r.feed(b'*2\\r\\n:1\\r\\n$1\\r\\nx\\r\\n')\n"
        "print(resp.IMPLEMENTATION, r.gets(), resp.Reader is resp.PyReader)\n"
    )
    out = _run(sys.executable, "-c", code, env=env)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [expected, "[1,", "b'x']", "True"]


def test_missing_extension_falls_back(tmp_path: os.PathLike[str]) -> None:
    """A package copy without the compiled module still imports, on the pure twin."""
    import shutil

    pkg = os.path.dirname(gungnir.__file__)
    copy = os.path.join(os.fspath(tmp_path), "gungnir")
    shutil.copytree(pkg, copy, ignore=shutil.ignore_patterns("_resp*.so", "__pycache__"))
    code = "from gungnir import resp; print(resp.IMPLEMENTATION, resp.__file__)"
    # -S: no site-packages, so the editable install's finder cannot supply the real module;
    # run from the copy's folder so the source tree in the working directory is not on the path.
    root = os.fspath(tmp_path)
    out = _run(sys.executable, "-S", "-c", code, env={"PYTHONPATH": root}, cwd=root)
    assert out.returncode == 0, out.stderr
    implementation, path = out.stdout.split()
    assert implementation == "python" and path.startswith(os.fspath(tmp_path))


def test_run_uses_uvloop_by_default() -> None:
    import asyncio

    async def loop_type() -> str:
        return type(asyncio.get_running_loop()).__module__

    assert gungnir.run(loop_type()).startswith("uvloop")
    assert gungnir.run(loop_type(), use_uvloop=False).startswith("asyncio")
