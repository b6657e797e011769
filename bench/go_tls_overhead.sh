#!/usr/bin/env bash
# Go TLS tracing cost: a Go HTTPS client making N GETs in turn on one keep-alive connection to a
# Go HTTPS server (tests/e2e/helpers/go_tls.go, standard library, crypto/tls compiled in; HTTP/1.1
# or HTTP/2), interleaved rounds of
#   bare       nothing attached
#   floor      bpftrace counting the same functions' calls (uprobes on (*Conn).Write and Read:
#              the cost of the hooks alone, no data read)
#   sightline  the agent with the l7 source only (both sides' plaintext: Write at entry, Read at
#              each RET, parsed and counted)
# Reports requests/s and its ratio to bare, and whether the agent counted every request on both
# sides (its kernel-paired family for HTTP/1, user space's for HTTP/2).
#   usage: [PROTO=h1|h2] bench/go_tls_overhead.sh [ROUNDS=3] [REQUESTS=5000]   (as root, after scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.bash
ROUNDS=${1:-3} N=${2:-5000} PROTO=${PROTO:-h1}
SL=./build/sightline
command -v go >/dev/null || { echo "needs Go: apt-get install golang-go" >&2; exit 1; }
[[ -x $SL ]] || { echo "build first: bash scripts/build.sh" >&2; exit 1; }
tmp=$(mktemp -d)
ap= sp=
cleanup() {
  [[ -n $ap ]] && kill -TERM $ap 2>/dev/null && wait $ap 2>/dev/null
  [[ -n $sp ]] && kill $sp 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT
mkdir -p "$tmp/src/go_tls"
cp tests/e2e/helpers/go_tls.go "$tmp/src/go_tls/main.go"
(cd "$tmp/src/go_tls" && GO111MODULE=off GOPATH=/usr/share/gocode GOCACHE=$tmp/gocache GOFLAGS= go build -o "$tmp/go_tls" .)
port=$(free_port) aport=$(free_port)
"$tmp/go_tls" serve $port >"$tmp/server.out" 2>&1 &
sp=$!
for i in $(seq 100); do grep -q ready "$tmp/server.out" && break; sleep 0.1; done
{
  echo "listen: 127.0.0.1:$aport"
  echo "rules: {enabled: false}"
  echo "overhead: {max_cpu_percent: 0}"
  echo "sources:"
  for s in process file net security syscalls sched block packets profile; do echo "  $s: {enabled: false}"; done
} >"$tmp/agent.yaml"
proto_name=http
[[ $PROTO == h2 ]] && proto_name=http2
counted() {  # the agent's count of this run's requests on side $1
  curl -sf "http://127.0.0.1:$aport/metrics" |
    awk -v r="role=\"$1\"" -v p="protocol=\"$proto_name\"" '/^sightline_l7_requests_total[{]comm="go_tls"/ && index($0, r) && index($0, p) {s += $NF} END {printf "%d", s}'
}
declare -A RPS RATIO
bare_rps=1
for ((r = 1; r <= ROUNDS; r++)); do
  for mode in bare floor sightline; do
    case $mode in
      floor)
        bpftrace -e "uprobe:$tmp/go_tls:\"crypto/tls.(*Conn).Write\", uprobe:$tmp/go_tls:\"crypto/tls.(*Conn).Read\" { @[probe] = count(); }" >"$tmp/bt.out" 2>&1 &
        ap=$!
        for i in $(seq 200); do grep -q Attaching "$tmp/bt.out" 2>/dev/null && break; sleep 0.1; done
        sleep 1 ;;
      sightline)
        $SL agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
        ap=$!
        for i in $(seq 100); do curl -sf "http://127.0.0.1:$aport/healthz" >/dev/null && break; sleep 0.1; done
        for i in $(seq 100); do grep -q "l7: Go binary" "$tmp/agent.log" && break; sleep 0.1; done
        sleep 1 ;;
    esac
    t0=$(date +%s.%N)
    "$tmp/go_tls" get "https://127.0.0.1:$port" "$N" "$PROTO" >/dev/null
    t1=$(date +%s.%N)
    rps=$(echo "$N / ($t1 - $t0)" | bc -l)
    RPS[$mode]+="$rps "
    [[ $mode == bare ]] && bare_rps=$rps
    RATIO[$mode]+="$(echo "$rps / $bare_rps" | bc -l) "
    extra=
    if [[ $mode == sightline ]]; then
      sleep 2
      extra=" counted client $(counted client) server $(counted server) of $N"
    fi
    if [[ -n $ap ]]; then kill -INT $ap 2>/dev/null; wait $ap 2>/dev/null || true; ap=; fi
    printf 'round %d %-10s %8.0f req/s%s\n' "$r" "$mode" "$rps" "$extra"
  done
done
for mode in bare floor sightline; do  # medians of each round's ratio to that round's bare run
  printf '%-10s median %8.0f req/s  ratio to bare %.3f\n' "$mode" "$(echo "${RPS[$mode]}" | median)" \
    "$(echo "${RATIO[$mode]}" | median)"
done
