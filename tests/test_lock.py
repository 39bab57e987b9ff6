"""The locked test environment: every range pyproject.toml declares is pinned, hashed and met.

`./dev setup` installs requirements/*.lock with ``--require-hashes``; a requirement added to
pyproject.toml without `./dev lock` would be missing from the lock and the fresh-machine
install would fail.  These tests say so at once, naming the package.
"""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parent.parent
LOCKS = [ROOT / "requirements" / "bootstrap.lock", ROOT / "requirements" / "test.lock"]

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s\\]+)")


def parse_lock(text: str) -> dict[str, tuple[Version, int]]:
    """Map each pinned package to (version, number of hashes) in a pip-compile lock."""
    pins: dict[str, tuple[Version, int]] = {}
    current: str | None = None
    for line in text.splitlines():
        m = _PIN.match(line)
        if m:
            current = canonicalize_name(m.group(1))
            pins[current] = (Version(m.group(2)), 0)
        elif current is not None and "--hash=sha256:" in line:
            version, hashes = pins[current]
            pins[current] = (version, hashes + 1)
        elif line and not line.startswith((" ", "#")):
            current = None
    return pins


def declared() -> list[Requirement]:
    """pyproject's runtime dependencies, its test extra and its build requirements."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    project = pyproject["project"]
    names = project["dependencies"] + project["optional-dependencies"]["test"]
    return [Requirement(r) for r in names + pyproject["build-system"]["requires"]]


@pytest.fixture(scope="module")
def pins() -> dict[str, tuple[Version, int]]:
    out: dict[str, tuple[Version, int]] = {}
    for path in LOCKS:
        out.update(parse_lock(path.read_text()))
    return out


def test_parse_lock_reads_pins_and_counts_hashes() -> None:
    text = (
        "# header\n"
        "Foo_Bar==1.2.0 \\\n"
        "    --hash=sha256:aa \\\n"
        "    --hash=sha256:bb\n"
        "    # via x\n"
        "baz==3 \\\n"
        "    --hash=sha256:cc\n"
    )
    assert parse_lock(text) == {"foo-bar": (Version("1.2.0"), 2), "baz": (Version("3"), 1)}


def test_every_declared_requirement_is_pinned_within_its_range(
    pins: dict[str, tuple[Version, int]],
) -> None:
    problems = []
    for req in declared():
        name = canonicalize_name(req.name)
        if name not in pins:
            problems.append(f"{req.name} is not in the lock (run ./dev lock)")
        elif not req.specifier.contains(pins[name][0], prereleases=True):
            problems.append(f"{req.name} is locked at {pins[name][0]}, outside {req.specifier}")
    assert not problems, problems


def test_every_pin_carries_a_hash(pins: dict[str, tuple[Version, int]]) -> None:
    assert pins, "no pins read from the locks"
    assert [name for name, (_, hashes) in pins.items() if hashes == 0] == []


def test_the_environment_runs_the_locked_versions(pins: dict[str, tuple[Version, int]]) -> None:
    """The tests run with exactly what the lock names (pip excepted: a venv may carry its own)."""
    drift = []
    for name, (version, _) in pins.items():
        if name == "pip":
            continue
        try:
            installed = Version(importlib.metadata.version(name))
        except importlib.metadata.PackageNotFoundError:
            drift.append(f"{name} missing")
            continue
        if installed != version:
            drift.append(f"{name} {installed} installed, {version} locked")
    assert not drift, drift
