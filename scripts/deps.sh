#!/usr/bin/env bash
# Installs the Debian 12 packages that build, test and benchmark Sightline. Idempotent: only
# what is missing is installed, and `apt-get update` runs once, only when something is.
set -euo pipefail
# The sets: `build` is what building and running the agent need (README command 1);
# `test` adds the tests' and benchmarks' servers, peers and tools (README command 2, CI).
#   usage: scripts/deps.sh [build|test]   (default: test)
set_name=${1:-test}
BUILD_PKGS=(
  build-essential cmake ninja-build ccache pkg-config git
  # CO-RE toolchain: BPF compiler, skeleton generator, loader
  clang-16 llvm-16 bpftool libbpf-dev libelf-dev zlib1g-dev
  # DWARF unwinding of user stacks (profile); MiniDebugInfo (xz) symbols
  libdw-dev liblzma-dev
  # Go TLS: the RET instructions of crypto/tls.(*Conn).Read (sources/l7/go_tls.h)
  libcapstone-dev
  # libraries
  libyaml-cpp-dev libcli11-dev libfmt-dev libspdlog-dev libcpp-httplib-dev libssl-dev
  # the embedded store (SQLite) and the exporters' compression (snappy: Prometheus remote-write)
  libsqlite3-dev libsnappy-dev
  # cmake/abi_fields.py generates the BPF ABI checks
  python3
  # the agent's API answers here, and the README's first checks use it
  curl
  # scripts/package.sh: sightline(8) from the binary's --help
  help2man
)
TEST_PKGS=(
  sqlite3
  # tests and benchmarks: gtest, peers (libbpf-tools, bpftrace), helpers
  libgtest-dev libbenchmark-dev libbpf-tools bpftrace procps util-linux bc tmux iproute2
  # promtool (in Debian's prometheus package) lints the /metrics exposition
  prometheus
  # alerts delivered to a real Alertmanager in the rules tests
  prometheus-alertmanager
  # real servers and clients for the L7 tests and benchmark, started on 127.0.0.1 by the tests
  nginx-light wrk redis-server redis-tools dnsmasq-base bind9-dnsutils postgresql-15 postgresql-client-15
  # request timelines: a threaded Python server that queries PostgreSQL from its handler's thread
  python3-psycopg2
  # HTTP/2 and gRPC: h2load (nghttp2-client), a gRPC server and client (python3-grpcio)
  nghttp2-client python3-grpcio
  # Memcached: the server, libmemcached's clients (binary protocol) and pymemcache (text)
  memcached libmemcached-tools python3-pymemcache
  # NATS: the server, and the nats.go client the test builds its producer and consumer on
  nats-server golang-github-nats-io-go-nats-dev
  # h2c by HTTP/1.1 Upgrade: a Go server on golang.org/x/net/http2/h2c
  golang-golang-x-net-dev
  # AMQP: RabbitMQ and the pika client
  rabbitmq-server python3-pika
  mariadb-server mariadb-client
  # exporter backends the tests deliver to (started on 127.0.0.1 by the tests)
  clickhouse-server clickhouse-client victoria-metrics
  # go tool pprof reads the profiles the tests write; perf is the unwinding test's reference
  golang-go linux-perf
  # the web UI's browser tests (playwright-core drives Debian's chromium)
  chromium
  # the kernel matrix (scripts/vmtest.sh): Debian's 6.1 kernel under qemu, busybox in its initramfs; socat and gawk name a hung guest's addresses
  qemu-system-x86 busybox-static cpio socat gawk
  # fuzzing: clang with libFuzzer and the sanitizers
  clang-14 libclang-rt-14-dev
  # the package's install test: a clean Debian root (mmdebstrap) booted with systemd in the VM
  mmdebstrap
  # the container image's test: umoci verifies and unpacks it as a runtime would
  umoci
)
case $set_name in
  build) PKGS=("${BUILD_PKGS[@]}") ;;
  test) PKGS=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}") ;;
  *) echo "deps.sh: unknown set '$set_name' (build or test)" >&2; exit 2 ;;
esac
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep "ok installed" >/dev/null || missing+=("$p")
done
if ((${#missing[@]})); then
  if [[ $(id -u) != 0 ]]; then
    echo "deps.sh: missing packages: ${missing[*]}; run as root to install them" >&2
    exit 1
  fi
  echo "deps.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# Node.js and npm build the web UI (ui/): the machine's own when it has them (Node 18 or newer),
# else Debian's.
if ! command -v npm >/dev/null || ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 18 ? 0 : 1)' 2>/dev/null; then
  echo "deps.sh: installing nodejs npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi
