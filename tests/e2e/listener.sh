#!/usr/bin/env bash
# The TCP listener beyond loopback, as a Kubernetes pod or a node scraped over the network runs
# it: the token from $SIGHTLINE_API_TOKEN, HTTPS with a certificate from the configuration, and
# only /healthz and /metrics served without the token. Bad settings are refused with a sentence.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
dir=$(mktemp -d)
port=$(free_port)
trap 'stop_bg; rm -rf "$dir"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=127.0.0.1" -addext "subjectAltName=IP:127.0.0.1" \
  -keyout "$dir/key.pem" -out "$dir/cert.pem" >/dev/null 2>&1 || fail "openssl could not make a certificate"
cat >"$dir/agent.yaml" <<YAML
listen: 0.0.0.0:$port
api_socket: ""
tls: {cert: $dir/cert.pem, key: $dir/key.pem}
store: {path: $dir/s.db}
sources: {l7: {enabled: false}, profile: {enabled: false}, packets: {enabled: false}}
YAML
# Refused: a path that may never be public; half a TLS setting; no token beyond loopback.
for bad in "public_paths: [/healthz, /api/v1/query]|'/api/v1/query' may not be served without the token" \
           "tls: {cert: $dir/cert.pem}|tls: set both cert and key"; do
  printf '%s\nlisten: 127.0.0.1:%s\n' "${bad%%|*}" "$port" >"$dir/bad.yaml"
  out=$("$SL" config check "$dir/bad.yaml" 2>&1) && fail "accepted: ${bad%%|*}"
  grep -qF "${bad#*|}" <<<"$out" || fail "the refusal of '${bad%%|*}' does not say why: $out"
done
rc=0; out=$(timeout 20 "$SL" agent -c "$dir/agent.yaml" 2>&1) || rc=$?
[[ $rc != 0 ]] && grep -q "is not a loopback address: set api_token" <<<"$out" || fail "no token beyond loopback: exit $rc: $out"
printf 'listen: 127.0.0.1:%s\ntls: {cert: %s/missing.pem, key: %s/key.pem}\napi_socket: ""\nstore: {enabled: false}\n' "$port" "$dir" "$dir" >"$dir/missing.yaml"
rc=0; out=$(timeout 20 "$SL" agent -c "$dir/missing.yaml" 2>&1) || rc=$?
[[ $rc != 0 ]] && grep -q "tls: $dir/missing.pem: No such file or directory" <<<"$out" || fail "a missing certificate: exit $rc: $out"

SIGHTLINE_API_TOKEN=env-secret "$SL" agent -c "$dir/agent.yaml" >"$dir/log" 2>&1 &
bg_pid $!
https=(curl -s --cacert "$dir/cert.pem" -o "$dir/body" -w '%{http_code}')
wait_for 30 curl -sf --cacert "$dir/cert.pem" https://127.0.0.1:$port/healthz || { cat "$dir/log"; fail "no HTTPS answer"; }
grep -q "serving /metrics and /healthz on https://0.0.0.0:$port" "$dir/log" || fail "the log does not say https: $(cat "$dir/log")"
[[ $("${https[@]}" https://127.0.0.1:$port/metrics) == 200 ]] && grep -q '^sightline_build_info' "$dir/body" \
  || fail "/metrics over HTTPS without the token: $(head -3 "$dir/body")"
[[ $("${https[@]}" --get --data-urlencode "sql=SELECT 1" https://127.0.0.1:$port/api/v1/query) == 401 ]] || fail "a query without the token"
[[ $("${https[@]}" https://127.0.0.1:$port/) == 401 ]] || fail "the UI without the token"
[[ $("${https[@]}" -H 'Authorization: Bearer wrong' https://127.0.0.1:$port/api/v1/schema) == 401 ]] || fail "a wrong token"
[[ $("${https[@]}" -H 'Authorization: Bearer env-secret' --get --data-urlencode "sql=SELECT 1 AS one" https://127.0.0.1:$port/api/v1/query) == 200 ]] \
  && grep -q '"rows":\[\[1\]\]' "$dir/body" || fail "a query with the token from the environment: $(cat "$dir/body")"
# Plain HTTP to the HTTPS port gets no answer.
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 http://127.0.0.1:$port/metrics || true)
[[ $code != 200 ]] || fail "plain HTTP answered on the HTTPS listener"
echo "listener e2e ok"
