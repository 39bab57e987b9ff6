"""The package as a user installs it: the command, the version, the codec selection."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

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


def _wheel_from_a_copy(tmp_path: Path, env: dict[str, str]) -> list[str]:
    """Build a wheel the way ``pip install .`` does (isolated build environment) from a copy
    of the tracked sources, and return the names inside it."""
    root = Path(__file__).resolve().parents[1]
    listed = subprocess.run(
        ["git", "-C", str(root), "ls-files", "-z"], capture_output=True, check=False
    )
    if listed.returncode != 0:
        pytest.skip("needs a git checkout to know which files are sources")
    src = tmp_path / "src"
    for name in listed.stdout.decode().split("\0"):
        if name and (root / name).is_file():
            (src / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, src / name)
    out = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(src)],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
    )
    assert out.returncode == 0, out.stderr[-2000:]
    (wheel,) = tmp_path.glob("gungnir-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        return zf.namelist()


@pytest.mark.slow
def test_pip_builds_the_compiled_codec_into_the_wheel(tmp_path: Path) -> None:
    """The extension is optional in setup.py, so a failed compile would silently ship only
    the pure twin; a normal build must contain it."""
    names = _wheel_from_a_copy(tmp_path, {})
    assert any(n.startswith("gungnir/_resp.") and n.endswith(".so") for n in names), names
    assert "gungnir/_resp_py.py" in names


@pytest.mark.slow
def test_pip_install_without_a_compiler_still_builds(tmp_path: Path) -> None:
    """No working C compiler: the build succeeds with the pure twin only (the import-time
    fallback is tested above)."""
    names = _wheel_from_a_copy(tmp_path, {"CC": "false", "LDSHARED": "false"})
    assert not any(n.endswith(".so") for n in names), names
    assert "gungnir/_resp_py.py" in names and "gungnir/resp.py" in names
