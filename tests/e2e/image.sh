#!/usr/bin/env bash
# The container image as a runtime sees it: scripts/image.sh builds an OCI image archive; umoci
# (a real OCI tool) verifies its digests and unpacks it into a runtime bundle; the bundle's
# command is the agent; the agent runs from the image's root file system alone (its own
# libraries, no host /usr), with the kernel's file systems mounted in as the DaemonSet does,
# sees the node's execs, serves /metrics, and on SIGTERM exits 0 leaving no program.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
root=$(cd "$(dirname "$0")/../.." && pwd)
command -v umoci >/dev/null || fail "umoci missing: scripts/deps.sh installs it"
dir=$(mktemp -d)
trap 'stop_bg; rm -rf "$dir"' EXIT
image=$(cd "$root" && bash scripts/image.sh 2>/dev/null | tail -1)
[[ -f $root/$image ]] || fail "scripts/image.sh made no image"
mkdir "$dir/layout"
tar -xf "$root/$image" -C "$dir/layout"
version=$("$root/build/sightline" --version)
umoci unpack --image "$dir/layout:$version" "$dir/bundle" >"$dir/umoci.log" 2>&1 || fail "umoci unpack: $(cat "$dir/umoci.log")"
args=$(python3 -c "import json,sys; print(' '.join(json.load(open(sys.argv[1]))['process']['args']))" "$dir/bundle/config.json")
[[ $args == "/usr/bin/sightline agent --config /etc/sightline/sightline.yaml" ]] || fail "the image's command: $args"
r=$dir/bundle/rootfs
[[ ! -e $r/usr/include && ! -e $r/bin/sh ]] || fail "the image carries more than the agent"
[[ $(chroot "$r" /usr/bin/sightline --version) == "$version" ]] || fail "the binary does not run from the image alone"

port=$(free_port)
# A private mount namespace: the mounts go when the agent does.
unshare -m --propagation slave -- sh -c "mount -t proc proc '$r/proc' && mount --rbind /sys '$r/sys' && mount --rbind /dev '$r/dev' &&
  exec chroot '$r' /usr/bin/sightline agent --config /etc/sightline/sightline.yaml --listen 127.0.0.1:$port" >"$dir/log" 2>&1 &
pid=$!
bg_pid $pid
wait_for 30 curl -sf http://127.0.0.1:$port/healthz || { cat "$dir/log"; fail "the agent from the image did not answer"; }
for i in $(seq 10); do /bin/true sl-image-$i; done
wait_for 10 bash -c "grep -q '^sightline_events_total{source=\"process\",kind=\"exec\"} [1-9]' <<<\"\$(curl -sf http://127.0.0.1:$port/metrics)\"" \
  || fail "no exec seen from the image: $(curl -sf http://127.0.0.1:$port/metrics | grep -E 'events_total|source_up')"
m=$(curl -sf http://127.0.0.1:$port/metrics)
grep -q '^sightline_source_up{source="process"} 1$' <<<"$m" || fail "process source not up"
kill -TERM $pid
rc=0; wait $pid || rc=$?
[[ $rc == 0 ]] || fail "agent exit $rc: $(tail -5 "$dir/log")"
no_programs_left || fail "programs left: $(bpftool prog list | grep 'name sl_')"
echo "image e2e ok"
