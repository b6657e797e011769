#!/usr/bin/env bash
# Parity with biosnoop: 64 O_DIRECT reads of 4 KiB by a process of a known name; `sightline trace
# block_io` sees the same I/Os (sector, bytes, op) as a biosnoop-shaped bpftrace program on the
# block_rq_issue and block_rq_complete tracepoints, with latencies within 10% (or 20 us: the
# tools' own programs run between the two hooks). Debian's biosnoop (libbpf-tools and
# biosnoop.bt) needs kprobes or fentry, which this kernel lacks: the bpftrace program stands in.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
tmp=$(mktemp -d /var/tmp/sl-bio.XXXXXX)  # on the disk: /tmp may be a tmpfs
trap 'stop_bg; rm -rf "$tmp"' EXIT
cp "$(command -v dd)" "$tmp/sl-bio-dd"
"$tmp/sl-bio-dd" if=/dev/urandom of="$tmp/data" bs=4k count=64 oflag=direct status=none
cat >"$tmp/biosnoop.bt" <<'BT'
BEGIN { printf("ready\n"); }
tracepoint:block:block_rq_issue /comm == "sl-bio-dd"/ { @start[args->dev, args->sector] = nsecs; }
tracepoint:block:block_rq_complete /@start[args->dev, args->sector]/ {
  printf("io %d %d %s %d\n", args->sector, args->nr_sector * 512, args->rwbs, nsecs - @start[args->dev, args->sector]);
  delete(@start[args->dev, args->sector]);
}
BT
stdbuf -oL bpftrace "$tmp/biosnoop.bt" >"$tmp/peer.txt" 2>&1 &
bg_pid $!
"$SL" trace block_io --comm sl-bio-dd --json >"$tmp/sl.json" 2>"$tmp/sl.err" &
bg_pid $!
wait_for 60 grep -q ready "$tmp/peer.txt" || fail "bpftrace did not start: $(cat "$tmp/peer.txt")"
wait_for 20 grep -q "tracing block_io" "$tmp/sl.err" || fail "trace did not start: $(cat "$tmp/sl.err")"
"$tmp/sl-bio-dd" if="$tmp/data" of=/dev/null bs=4k count=64 iflag=direct status=none
sleep 1
kill -INT "${BG_PIDS[@]}" 2>/dev/null || true
sleep 1
python3 - "$tmp/peer.txt" "$tmp/sl.json" <<'PY' || fail "I/Os differ"
import json, statistics, sys
peer_file, sl_file = sys.argv[1:]
theirs = {}
for line in open(peer_file):
    f = line.split()
    if len(f) == 5 and f[0] == "io" and f[3].startswith("R"):
        theirs[(int(f[1]), int(f[2]))] = int(f[4])
ours = {}
for line in open(sl_file):
    e = json.loads(line)
    if e["bio.op"] == "read":
        ours[(e["bio.sector"], e["bio.bytes"])] = e["bio.latency"]
print(f"bpftrace saw {len(theirs)} reads, sightline {len(ours)}")
assert len(ours) == 64, f"sightline saw {len(ours)} of the 64 reads"
assert set(theirs) == set(ours), f"only bpftrace {sorted(set(theirs) - set(ours))[:5]} only sightline {sorted(set(ours) - set(theirs))[:5]}"
ratios = [ours[k] / theirs[k] for k in theirs if theirs[k]]
far = [k for k in theirs if abs(ours[k] - theirs[k]) > max(0.1 * theirs[k], 20000)]
print(f"latency ratio median {statistics.median(ratios):.3f}; {len(far)} differ by more than 10% and 20 us")
assert 0.9 <= statistics.median(ratios) <= 1.1, statistics.median(ratios)
assert len(far) <= 3, [(k, ours[k], theirs[k]) for k in far]
PY
echo "block_io parity with a biosnoop-shaped bpftrace program: ok"
