"""The Kubernetes walk-throughs create every Secret the manifests read.

A Secret named by a pod template but created by no documented command leaves the pods in
``CreateContainerConfigError``: the manifests render and validate, and the deployment still
never starts. Secrets are deliberately not in the manifests (none is ever committed), so the
docs are the only place they come from, and this test holds the two together.
"""

from __future__ import annotations

import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parent.parent
BASE = REPO / "k8s" / "base"
OVERLAY = REPO / "k8s" / "overlays" / "example"
WALKTHROUGHS = ("docs/getting-started.md", "docs/kubernetes.md")


def _base_objects() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    objs: list[dict[str, Any]] = []
    for name in kustomization["resources"]:
        objs += [d for d in yaml.safe_load_all((BASE / name).read_text()) if d]
    return objs


def _pod_specs(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    spec = obj.get("spec", {})
    if obj.get("kind") == "Pod":
        yield spec
    elif "template" in spec:
        yield spec["template"]["spec"]
    elif "jobTemplate" in spec:
        yield spec["jobTemplate"]["spec"]["template"]["spec"]


def referenced_secrets(objs: list[dict[str, Any]]) -> set[tuple[str, str | None]]:
    """(secret, key) for every required Secret reference; key None means the whole Secret."""
    refs: set[tuple[str, str | None]] = set()
    for obj in objs:
        for pod in _pod_specs(obj):
            for c in pod.get("initContainers", []) + pod.get("containers", []):
                for env in c.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref and not ref.get("optional", False):
                        refs.add((ref["name"], ref["key"]))
                for src in c.get("envFrom", []):
                    ref = src.get("secretRef")
                    if ref and not ref.get("optional", False):
                        refs.add((ref["name"], None))
            for vol in pod.get("volumes", []):
                ref = vol.get("secret")
                if ref and not ref.get("optional", False):
                    keys = [item["key"] for item in ref.get("items", [])]
                    refs.update((ref["secretName"], k) for k in keys or [None])
    return refs


def shell_commands(markdown: str) -> list[list[str]]:
    """The commands of the page's ``sh`` blocks, continuation lines joined, comments dropped."""
    commands: list[list[str]] = []
    block: list[str] | None = None
    for line in markdown.splitlines():
        if block is None:
            if line.strip() in ("```sh", "```bash", "```shell"):
                block = []
            continue
        if line.strip() == "```":
            text = "\n".join(block).replace("\\\n", " ")
            commands += [shlex.split(c, comments=True) for c in text.splitlines() if c.strip()]
            block = None
            continue
        block.append(line)
    return [c for c in commands if c]


def created_secrets(commands: list[list[str]]) -> dict[str, tuple[str | None, set[str]]]:
    """secret name -> (namespace, keys) for every ``kubectl create secret generic``."""
    made: dict[str, tuple[str | None, set[str]]] = {}
    for argv in commands:
        if argv[:1] != ["kubectl"]:
            continue
        words: list[str] = []
        rest = iter(argv[1:])
        for arg in rest:
            if arg in ("-n", "--namespace"):
                next(rest, None)  # the flag's value is not a word of the command
            elif not arg.startswith("-"):
                words.append(arg)
        if words[:3] != ["create", "secret", "generic"] or len(words) < 4:
            continue
        namespace = None
        keys: set[str] = set()
        for i, arg in enumerate(argv):
            if arg in ("-n", "--namespace"):
                namespace = argv[i + 1]
            elif arg.startswith("--namespace="):
                namespace = arg.split("=", 1)[1]
            for flag in ("--from-literal=", "--from-file="):
                if arg.startswith(flag):
                    value = arg[len(flag) :]
                    if flag == "--from-file=" and "=" not in value:
                        keys.add(Path(value).name)
                    else:
                        keys.add(value.split("=", 1)[0])
        made[words[3]] = (namespace, keys)
    return made


def test_the_base_reads_the_peer_secret() -> None:
    """The reference the docs must satisfy is really there (a test against nothing passes)."""
    refs = referenced_secrets(_base_objects())
    assert ("gungnir-peer", "secret") in refs
    for key in ("daemon-password", "replication-password", "app-password"):
        assert ("valkey-auth", key) in refs  # the Valkey pods' volume items


@pytest.mark.parametrize("page", WALKTHROUGHS)
def test_walkthrough_creates_every_secret_the_base_reads(page: str) -> None:
    namespace = yaml.safe_load((OVERLAY / "kustomization.yaml").read_text())["namespace"]
    made = created_secrets(shell_commands((REPO / page).read_text()))
    for name, key in sorted(referenced_secrets(_base_objects()), key=str):
        assert name in made, f"{page} never creates the Secret {name!r} the manifests read"
        ns, keys = made[name]
        assert ns == namespace, f"{page} creates {name!r} in {ns!r}, the overlay uses {namespace!r}"
        if key is not None:
            assert key in keys, f"{page} creates {name!r} without the key {key!r} (has {keys})"


def test_the_secret_is_created_after_its_namespace_exists() -> None:
    """The overlay makes the namespace; creating the Secret before it would fail."""
    commands = shell_commands((REPO / "docs/getting-started.md").read_text())
    applies = [i for i, c in enumerate(commands) if c[:3] == ["kubectl", "apply", "-k"]]
    secrets = [i for i, c in enumerate(commands) if c[1:4] == ["-n", "valkey-demo", "create"]]
    assert applies and secrets
    assert applies[0] < secrets[0]


def test_the_parser_sees_a_missing_key_and_a_missing_secret() -> None:
    page = "```sh\nkubectl -n ns create secret generic other --from-literal=token=x\n```\n"
    made = created_secrets(shell_commands(page))
    assert made == {"other": ("ns", {"token"})}
    assert "gungnir-peer" not in made
    continued = "```sh\nkubectl create secret generic s \\\n  --from-file=k=./f  # why\n```\n"
    assert created_secrets(shell_commands(continued)) == {"s": (None, {"k"})}
