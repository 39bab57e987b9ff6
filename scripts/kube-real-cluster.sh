#!/usr/bin/env bash
# Run the Kubernetes scenario suite against a real cluster (kind, k3d, or any cluster your
# kubeconfig reaches). Not run in CI: there is no cluster there; the same scenarios run
# against the API-server emulator in tests/kube/.
#
#   scripts/kube-real-cluster.sh                 # current kubectl context
#   KUBECONFIG=~/.kube/kind scripts/kube-real-cluster.sh
#   GUNGNIR_KUBE_KEEP=1 scripts/kube-real-cluster.sh   # keep the namespace to inspect it
#
# What it does: checks the cluster answers; server-side dry-runs the example overlay;
# installs the ValkeyGroup CRD (cluster-scoped, left installed); creates a scratch
# namespace with the ServiceAccount and Role from k8s/base, plus a ServiceAccount with no
# rights; runs tests/kube/real with tokens for both; deletes the namespace.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
ns="${GUNGNIR_KUBE_NAMESPACE:-gungnir-e2e-$(date +%s)}"
python="${PYTHON:-python}"
[ -x .venv/bin/python ] && python="${PYTHON:-.venv/bin/python}"

command -v kubectl >/dev/null || { echo "kubectl not found (Debian: kubernetes-client)" >&2; exit 2; }
kubectl version --request-timeout=10s >/dev/null || { echo "no cluster answers" >&2; exit 2; }

rendered="$(mktemp)"
tmpdir="$(mktemp -d)"
cleanup() {
  rm -rf "$rendered" "$tmpdir"
  if [ "${GUNGNIR_KUBE_KEEP:-0}" != 1 ]; then
    kubectl delete namespace "$ns" --wait=false --ignore-not-found >/dev/null || true
  fi
}
trap cleanup EXIT
kubectl kustomize k8s/ >"$rendered"

echo "== CRD"
kubectl apply -f k8s/base/crd-valkeygroup.yaml
kubectl wait --for=condition=Established --timeout=60s crd/valkeygroups.gungnir.io

echo "== namespace $ns"
kubectl create namespace "$ns"

echo "== manifests: server-side dry run of the example overlay"
# Server-side dry run of everything the overlay renders, moved into the scratch namespace
# (the ServiceMonitor only if the Prometheus Operator's CRD is installed).
have_sm=0
kubectl get crd servicemonitors.monitoring.coreos.com >/dev/null 2>&1 && have_sm=1
"$python" - "$rendered" "$ns" "$have_sm" >"$tmpdir/all.yaml" <<'PY'
import sys, yaml
path, ns, have_sm = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
out = []
for d in yaml.safe_load_all(open(path)):
    if not d or d["kind"] == "Namespace" or (d["kind"] == "ServiceMonitor" and not have_sm):
        continue
    if d["metadata"].get("namespace"):
        d["metadata"]["namespace"] = ns
    for s in d.get("subjects") or []:
        s["namespace"] = ns
    out.append(d)
yaml.safe_dump_all(out, sys.stdout)
PY
kubectl apply --dry-run=server -f "$tmpdir/all.yaml"

echo "== ServiceAccounts and the Role from k8s/base"
cat >"$tmpdir/kustomization.yaml" <<KUST
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: $ns
resources:
  - $here/k8s/base/serviceaccount.yaml
  - $here/k8s/base/rbac.yaml
KUST
kubectl kustomize --load-restrictor=LoadRestrictionsNone "$tmpdir" | kubectl apply -f -
kubectl -n "$ns" create serviceaccount gungnir-noperm

export GUNGNIR_KUBE_REAL=1 GUNGNIR_KUBE_NAMESPACE="$ns"
GUNGNIR_KUBE_TOKEN="$(kubectl -n "$ns" create token gungnir --duration=1h)"
GUNGNIR_KUBE_NOPERM_TOKEN="$(kubectl -n "$ns" create token gungnir-noperm --duration=1h)"
export GUNGNIR_KUBE_TOKEN GUNGNIR_KUBE_NOPERM_TOKEN

echo "== scenarios"
"$python" -m pytest tests/kube/real -v -p no:cacheprovider "$@"
