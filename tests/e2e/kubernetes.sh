#!/usr/bin/env bash
# deploy/kubernetes/*.yaml against the Kubernetes API's OpenAPI schemas and the Prometheus
# Operator's (kubernetes-models, installed by npm ci from deploy/kubernetes/check's lock file;
# no cluster here, so this stands in for kubectl's client-side validation). A manifest with a
# wrong type is refused, so the check is seen to bite. What the DaemonSet grants is compared
# with the agent's own list in tests/unit/packaging_test.cpp.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
root=$(cd "$(dirname "$0")/../.." && pwd)
check=$root/build/k8s-check
mkdir -p "$check"
cp "$root"/deploy/kubernetes/check/{package.json,package-lock.json,check.mjs} "$check/"
if ! cmp -s "$check/package-lock.json" "$check/node_modules/.package-lock.json.sl" 2>/dev/null; then
  (cd "$check" && npm ci --no-audit --no-fund --loglevel=error >/dev/null) || fail "npm ci in $check"
  cp "$check/package-lock.json" "$check/node_modules/.package-lock.json.sl"
fi
out=$(node "$check/check.mjs" "$root"/deploy/kubernetes/*.yaml 2>&1) || fail "the manifests: $out"
echo "$out"
for kind in Namespace ConfigMap DaemonSet Service ServiceMonitor; do
  grep -q "^ok .*: $kind sightline$" <<<"$out" || fail "$kind not checked: $out"
done
bad=$(mktemp)
trap 'rm -f "$bad"' EXIT
sed 's/containerPort: 9190/containerPort: "many"/' "$root/deploy/kubernetes/daemonset.yaml" >"$bad"
out=$(node "$check/check.mjs" "$bad" 2>&1) && fail "a wrong type passed: $out"
grep -q "containerPort must be integer" <<<"$out" || fail "the refusal does not name the field: $out"
echo "kubernetes e2e ok"
