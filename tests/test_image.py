"""The daemon image as a cluster would run it: built by scripts/build-image, unpacked from its
OCI archive, and run under unshare + chroot (no container runtime works on this kind of box) as
uid 10001 on a read-only root filesystem, with only loopback networking.

Set GUNGNIR_IMAGE_DIR to a directory scripts/build-image already filled to skip the build.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import tarfile
from pathlib import Path

import pytest

import gungnir

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.xdist_group("image"),
    # The first test builds the image (a few minutes: Debian packages are downloaded).
    pytest.mark.timeout(1200),
    pytest.mark.skipif(os.geteuid() != 0, reason="chroot and mount namespaces need root"),
    pytest.mark.skipif(
        not (shutil.which("mmdebstrap") and shutil.which("buildah") and shutil.which("unshare")),
        reason="mmdebstrap, buildah and unshare are installed by ./dev setup",
    ),
]


@pytest.fixture(scope="session")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Path:
    prebuilt = os.environ.get("GUNGNIR_IMAGE_DIR")
    out = Path(prebuilt) if prebuilt else tmp_path_factory.mktemp("image")
    if not prebuilt:
        venv = os.environ.get("GUNGNIR_VENV", str(Path(os.sys.executable).parent.parent))
        subprocess.run(
            [str(ROOT / "scripts" / "build-image"), str(out)],
            check=True,
            timeout=900,
            env={**os.environ, "GUNGNIR_VENV": venv},
        )
    path = out / f"gungnir-{gungnir.__version__}.oci.tar"
    assert path.exists()
    return path


def _blob(layout: Path, digest: str) -> Path:
    algo, _, hexdigest = digest.partition(":")
    return layout / "blobs" / algo / hexdigest


@pytest.fixture(scope="session")
def image(archive: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path]:
    """The image config and its root filesystem, unpacked layer by layer as a runtime would."""
    layout = tmp_path_factory.mktemp("layout")
    with tarfile.open(archive) as tar:
        tar.extractall(layout, filter="tar")
    index = json.loads((layout / "index.json").read_text())
    manifest = json.loads(_blob(layout, index["manifests"][0]["digest"]).read_text())
    config = json.loads(_blob(layout, manifest["config"]["digest"]).read_text())
    rootfs = tmp_path_factory.mktemp("rootfs")
    for layer in manifest["layers"]:
        with tarfile.open(_blob(layout, layer["digest"])) as tar:
            tar.extractall(rootfs, filter="fully_trusted")
    rootfs.chmod(0o755)  # mktemp made it 0700; "/" must be searchable by uid 10001
    return config, rootfs


def run_in_image(
    image: tuple[dict, Path], *argv: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run argv in the image: new mount, pid and network namespaces, loopback only, the root
    bind-mounted read-only, a tmpfs on /tmp, and uid/gid 10001 as the image's USER says."""
    config, rootfs = image
    r = str(rootfs)
    # The image's ENV, as a runtime would set it.
    env = " ".join(
        shlex.quote(e) for e in config["config"].get("Env", []) if not e.startswith("PATH=")
    )
    script = (
        "set -e; ip link set lo up; "
        f"mount --bind {r} {r}; mount -o remount,bind,ro {r}; "
        f"mount -t tmpfs -o mode=1777 tmpfs {r}/tmp; mount -t proc proc {r}/proc; "
        f"mount --rbind /dev {r}/dev; "
        f"exec chroot --userspec=10001:10001 {r} env -i PATH=/opt/gungnir/bin:/usr/bin:/bin "
        f'HOME=/tmp {env} "$@"'
    )
    return subprocess.run(
        [
            "unshare",
            "--mount",
            "--pid",
            "--net",
            "--fork",
            "--kill-child",
            "sh",
            "-c",
            script,
            "sh",
            *argv,
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_image_config_runs_gungnir_as_non_root(image: tuple[dict, Path]) -> None:
    config, _ = image
    assert config["config"]["User"] == "10001:10001"
    assert config["config"]["Entrypoint"] == ["/opt/gungnir/bin/gungnir"]
    assert config["config"]["Cmd"] == ["run", "--kubernetes"]


def test_image_reports_its_version_with_the_compiled_codec(image: tuple[dict, Path]) -> None:
    out = run_in_image(image, "gungnir", "--version")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == f"gungnir {gungnir.__version__}"
    out = run_in_image(
        image,
        "python3",
        "-c",
        "import gungnir.resp, gungnir.kube.api; print(gungnir.resp.IMPLEMENTATION)",
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "cython"


def test_image_root_filesystem_is_read_only(image: tuple[dict, Path]) -> None:
    out = run_in_image(image, "python3", "-c", "open('/opt/gungnir/x', 'w')")
    assert out.returncode != 0
    assert "Read-only file system" in out.stderr or "Permission denied" in out.stderr


def test_image_runs_the_demo_failover(image: tuple[dict, Path]) -> None:
    out = run_in_image(image, "gungnir", "demo", timeout=300)
    assert out.returncode == 0, out.stdout[-2000:] + out.stderr[-2000:]
    assert "promoted" in out.stdout
