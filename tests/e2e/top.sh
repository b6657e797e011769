#!/usr/bin/env bash
# `sightline top` as a person uses it: in a real terminal (tmux), a busy process shows at the
# top with its CPU share, a key re-sorts, q quits; and `--once --json` for scripts.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
command -v tmux >/dev/null || fail "tmux missing: scripts/deps.sh installs it"
tmp=$(mktemp -d)
session=sl-top-$$
trap 'tmux kill-session -t $session 2>/dev/null || true; stop_bg; rm -rf "$tmp"' EXIT
cat >"$tmp/burn.c" <<'C'
#include <sys/prctl.h>
#include <time.h>
int main(void) {
  prctl(PR_SET_NAME, "sl-top-burn");
  time_t end = time(0) + 12;
  volatile unsigned long x = 0;
  while (time(0) < end) x++;
  return 0;
}
C
cc -O1 -o "$tmp/burn" "$tmp/burn.c"
"$tmp/burn" &
bg_pid $!

tmux new-session -d -s $session -x 120 -y 30 "$SL top --interval 1"
screen() { tmux capture-pane -p -t $session; }
wait_for 15 bash -c "tmux capture-pane -p -t $session | grep -q '^sl-top-burn'" \
  || fail "the busy process is not on screen: $(screen)"
row=$(screen | grep '^sl-top-burn')
cpu=$(awk '{print $2}' <<<"$row")
# A busy loop has most of a CPU; other load on a 2-CPU machine may take part of it.
[[ ${cpu%.*} -ge 25 ]] || fail "CPU% of a busy loop is $cpu: $row"
head -1 <<<"$(screen)" | grep "sorted by CPU" >/dev/null || fail "header: $(screen | head -2)"
tmux send-keys -t $session s
wait_for 5 bash -c "tmux capture-pane -p -t $session | head -1 | grep -q 'sorted by syscalls'" \
  || fail "the s key did not re-sort: $(screen | head -2)"
tmux send-keys -t $session q
wait_for 5 bash -c "! tmux has-session -t $session 2>/dev/null" || fail "q did not quit"

json=$("$SL" top --once --json --interval 1)
python3 - "$json" <<'PY' || fail "top --once --json: $json"
import json, sys
rows = json.loads(sys.argv[1])["rows"]
burn = [r for r in rows if r["comm"] == "sl-top-burn"]
assert burn and burn[0]["cpu_pct"] > 25, rows
# Sorted by CPU, busiest first (a build running beside the test may be busier than the loop).
assert all(a["cpu_pct"] >= b["cpu_pct"] for a, b in zip(rows, rows[1:])), rows
assert "net_bytes_per_s" in rows[0], rows
PY
echo "top e2e: ok"
