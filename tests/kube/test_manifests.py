"""Everything in k8s/ renders with kustomize and validates strictly, CRD objects included."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gungnir.kube import spec_to_settings

from .conftest import REPO

SCHEMAS = Path(__file__).parent / "schemas"
CUSTOM = {("gungnir.io/v1alpha1", "ValkeyGroup"), ("monitoring.coreos.com/v1", "ServiceMonitor")}


def render(path: str = "k8s/") -> tuple[str, list[dict[str, Any]]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl is not installed (Debian package kubernetes-client)")
    out = subprocess.run(
        [kubectl, "kustomize", str(REPO / path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return out.stdout, [d for d in yaml.safe_load_all(out.stdout) if d]


@pytest.fixture(scope="module")
def rendered() -> tuple[str, list[dict[str, Any]]]:
    return render()


def _find(objs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    matches = [o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(matches) == 1, f"{kind}/{name}: {len(matches)} found"
    return matches[0]


def test_kubernetes_validate_strict(
    rendered: tuple[str, list[dict[str, Any]]], tmp_path: Path
) -> None:
    text, objs = rendered
    f = tmp_path / "rendered.yaml"
    f.write_text(text)
    out = subprocess.run(
        [sys.executable, "-m", "kubernetes_validate", "--strict", str(f)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    lines = (out.stdout + out.stderr).splitlines()
    passed = [ln for ln in lines if ln.startswith("INFO") and " passed " in ln]
    unknown = [ln for ln in lines if "Couldn't find schema for kind" in ln]
    errors = [ln for ln in lines if ln not in passed and ln not in unknown and ln.strip()]
    assert errors == [] and out.returncode == 0, "\n".join(lines)
    builtin = [o for o in objs if (o["apiVersion"], o["kind"]) not in CUSTOM]
    assert len(passed) == len(builtin)  # every built-in object was checked and passed
    # Only our two custom kinds lack a built-in schema; they are validated below.
    assert sorted(ln.split("kind ")[1].split(" ")[0] for ln in unknown) == [
        "ServiceMonitor",
        "ValkeyGroup",
    ]


def test_custom_objects_against_their_schemas(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    _, objs = rendered
    crd = _find(objs, "CustomResourceDefinition", "valkeygroups.gungnir.io")
    version = crd["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]
    groups = [o for o in objs if o["kind"] == "ValkeyGroup"]
    assert groups
    for g in groups:
        jsonschema.Draft7Validator(schema).validate(g)
        _, problems = spec_to_settings(g["metadata"]["name"], g["spec"])
        assert problems == []
    sm_schema = json.loads((SCHEMAS / "servicemonitor-v1.json").read_text())
    monitors = [o for o in objs if o["kind"] == "ServiceMonitor"]
    assert monitors
    for m in monitors:
        jsonschema.Draft202012Validator(sm_schema).validate(m)
    # The schemas are not vacuous: a typo and a bad value are caught.
    bad = dict(monitors[0], spec=dict(monitors[0]["spec"], endpoint=[]))
    assert list(jsonschema.Draft202012Validator(sm_schema).iter_errors(bad))
    bad_group = dict(groups[0], spec=dict(groups[0]["spec"], downAfter="soon"))
    assert list(jsonschema.Draft7Validator(schema).iter_errors(bad_group))


def test_the_crd_has_status_and_printer_columns(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    crd = _find(rendered[1], "CustomResourceDefinition", "valkeygroups.gungnir.io")
    v = crd["spec"]["versions"][0]
    assert v["subresources"] == {"status": {}}
    status = v["schema"]["openAPIV3Schema"]["properties"]["status"]["properties"]
    assert {
        "primary",
        "epoch",
        "leader",
        "lastFailoverTime",
        "lastFailoverReason",
        "conditions",
    } <= set(status)
    assert [c["name"] for c in v["additionalPrinterColumns"]][:3] == ["Primary", "Epoch", "Leader"]


def test_every_spec_field_of_the_crd_is_described(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    """``kubectl explain valkeygroup.spec`` and docs/configuration.md read these texts."""
    crd = _find(rendered[1], "CustomResourceDefinition", "valkeygroups.gungnir.io")
    spec = crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    bare = [k for k, v in spec["properties"].items() if not str(v.get("description", "")).strip()]
    assert not bare, f"CRD spec fields without a description: {bare}"


def test_daemonset_is_probed_bounded_and_unprivileged(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    ds = _find(rendered[1], "DaemonSet", "gungnir")
    pod = ds["spec"]["template"]["spec"]
    (c,) = pod["containers"]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert c["resources"]["requests"] and c["resources"]["limits"]["memory"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True
    assert c["securityContext"]["allowPrivilegeEscalation"] is False
    assert c["securityContext"]["capabilities"]["drop"] == ["ALL"]
    state = next(v for v in pod["volumes"] if v["name"] == "state")
    assert state["hostPath"]["path"] == "/var/lib/gungnir"
    assert any(m["name"] == "state" for m in c["volumeMounts"])
    assert pod["serviceAccountName"] == "gungnir"
    # Operators keep daemons off a node by labelling it, nothing else decides it.
    terms = pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    (expr,) = terms["nodeSelectorTerms"][0]["matchExpressions"]
    assert expr == {"key": "gungnir.io/daemon", "operator": "NotIn", "values": ["false"]}


def test_valkey_pods_carry_no_token_and_wire_the_auth_secret(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    """Valkey never calls the API, so a stolen Valkey pod yields no ServiceAccount token; its
    users come from the valkey-auth Secret, and the daemon mounts only its own password."""
    objs = rendered[1]
    pod = _find(objs, "StatefulSet", "valkey")["spec"]["template"]["spec"]
    assert pod["automountServiceAccountToken"] is False
    (c,) = pod["containers"]
    assert c["readinessProbe"]["exec"]["command"] == ["sh", "/etc/valkey/ready.sh"]
    env = {e["name"]: e.get("valueFrom", {}) for e in c["env"]}
    assert env["MEMORY_LIMIT"]["resourceFieldRef"]["resource"] == "limits.memory"
    auth = next(v for v in pod["volumes"] if v["name"] == "auth")["secret"]
    assert auth["secretName"] == "valkey-auth"
    group = _find(objs, "ValkeyGroup", "valkey")
    assert group["spec"]["authSecretRef"] == {"name": "valkey-auth"}
    ds = _find(objs, "DaemonSet", "gungnir")["spec"]["template"]["spec"]
    mine = next(v for v in ds["volumes"] if v["name"] == "valkey-auth")["secret"]
    assert mine["secretName"] == "valkey-auth"
    assert [i["key"] for i in mine["items"]] == ["daemon-password"]
    (daemon,) = ds["containers"]
    mount = next(m for m in daemon["volumeMounts"] if m["name"] == "valkey-auth")
    auth_dir = next(e["value"] for e in daemon["env"] if e["name"] == "GUNGNIR_VALKEY_AUTH_DIR")
    assert mount["mountPath"] == f"{auth_dir}/valkey-auth"


def test_services_route_as_designed(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    objs = rendered[1]
    primary = _find(objs, "Service", "valkey-primary")
    assert "selector" not in primary["spec"]  # the leader owns its EndpointSlice
    read = _find(objs, "Service", "valkey-read")
    assert read["spec"]["selector"] == {"gungnir.io/group": "valkey", "gungnir.io/role": "replica"}
    sts = _find(objs, "StatefulSet", "valkey")
    assert sts["spec"]["template"]["metadata"]["labels"]["gungnir.io/group"] == "valkey"
    headless = _find(objs, "Service", sts["spec"]["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    group = _find(objs, "ValkeyGroup", "valkey")
    assert group["spec"]["service"] == "valkey-primary"
    assert group["spec"]["readService"] == "valkey-read"
    pdb = _find(objs, "PodDisruptionBudget", "valkey")
    assert (
        pdb["spec"]["selector"]["matchLabels"].items()
        <= sts["spec"]["template"]["metadata"]["labels"].items()
    )
    sm = _find(objs, "ServiceMonitor", "gungnir")
    metrics = _find(objs, "Service", "gungnir-metrics")
    assert sm["spec"]["selector"]["matchLabels"].items() <= metrics["metadata"]["labels"].items()
    assert {p["name"] for p in metrics["spec"]["ports"]} >= {
        e["port"] for e in sm["spec"]["endpoints"]
    }


def test_resp_port_only_from_daemons_and_labelled_sentinel_clients(
    rendered: tuple[str, list[dict[str, Any]]],
) -> None:
    """7480 carries the peer protocol and the Sentinel endpoint: least privilege, but the
    applications that ask where the primary is must get through."""
    objs = rendered[1]
    pol = _find(objs, "NetworkPolicy", "gungnir")
    daemon = {"app.kubernetes.io/name": "gungnir", "app.kubernetes.io/component": "daemon"}
    assert pol["spec"]["podSelector"]["matchLabels"] == daemon
    allowed = []
    for rule in pol["spec"]["ingress"]:
        if any(p["port"] in (7480, "peer") for p in rule["ports"]):
            for peer in rule["from"]:
                assert "namespaceSelector" not in peer and "ipBlock" not in peer  # this namespace
                allowed.append(peer["podSelector"]["matchLabels"])
    assert sorted(allowed, key=len) == [{"gungnir.io/sentinel-client": "true"}, daemon]
    svc = _find(objs, "Service", "gungnir-sentinel")
    assert svc["spec"]["selector"] == daemon
    (port,) = svc["spec"]["ports"]
    assert port["port"] == 26379 and port["targetPort"] == "peer"
    ds = _find(objs, "DaemonSet", "gungnir")
    c = ds["spec"]["template"]["spec"]["containers"][0]
    assert {"name": "peer", "containerPort": 7480, "protocol": "TCP"} in c["ports"]


def test_base_renders_on_its_own() -> None:
    _, objs = render("k8s/base")
    assert {o["kind"] for o in objs} >= {"CustomResourceDefinition", "DaemonSet", "StatefulSet"}
