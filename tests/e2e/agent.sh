#!/usr/bin/env bash
# The agent as a person runs it: it starts with its defaults (plus the syscalls source, off by
# default, asked for), answers /healthz and /metrics with its own health, sees a real exec, and
# on SIGTERM exits 0 leaving no BPF program loaded.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
no_programs_left || fail "sl_ programs are loaded before the test: $(bpftool prog list | grep 'name sl_')"
port=$(free_port)
log=$(mktemp)
cfg=$(mktemp --suffix=.yaml)
echo 'sources: {syscalls: {enabled: true}}' >"$cfg"
"$SL" agent --listen 127.0.0.1:$port --config "$cfg" >"$log" 2>&1 &
pid=$!
bg_pid $pid
trap 'stop_bg; rm -f "$log" "$cfg"' EXIT
wait_for 20 curl -sf http://127.0.0.1:$port/healthz || { cat "$log"; fail "agent did not answer /healthz"; }
health=$(curl -sf http://127.0.0.1:$port/healthz)
grep -q "process: running" <<<"$health" || fail "process source not running: $health"
grep -q "file: running" <<<"$health" || fail "file source not running: $health"
grep -q "syscalls: running" <<<"$health" || fail "syscalls source not running when asked for: $health"
(( $(our_programs) > 0 )) || fail "no sl_ program loaded while the agent runs"
# Once attached it keeps only CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE (bits 2 and 19), and CAP_BPF
# (39) to link the uprobes of Go binaries that start later (sources.l7.go_tls; their events are
# the helper's to open).
capeff=$(awk '/CapEff/{print $2}' /proc/$pid/status)
[[ $capeff == 0000008000080004 ]] || fail "agent kept capabilities: CapEff=$capeff"
# Its helper that switches the BPF statistics (overhead.bpf_stats: sampled) keeps CAP_SYS_ADMIN
# (bit 21) alone and no descriptor of the agent's: its socket, and the statistics' while on.
helper=$(pgrep -P $pid -x sl-bpf-stats) || fail "no sl-bpf-stats helper under the agent: $(ps -o pid,comm --ppid $pid)"
[[ $(awk '/CapEff/{print $2}' /proc/$helper/status) == 0000000000200000 ]] \
  || fail "helper capabilities: $(grep Cap /proc/$helper/status)"
(( $(ls /proc/$helper/fd | wc -l) <= 2 )) || fail "the helper holds more than its socket: $(ls -l /proc/$helper/fd)"

/bin/true sl-e2e-agent-marker
cat /nonexistent-sl-e2e-agent 2>/dev/null || true
metric() {  # metric NAME_WITH_LABELS -> value
  curl -sf http://127.0.0.1:$port/metrics | awk -v m="$1" '$1 == m { print $2 }'
}
wait_for 5 bash -c "[[ \$(curl -sf http://127.0.0.1:$port/metrics | awk '\$1 == \"sightline_events_total{source=\\\"process\\\",kind=\\\"exec\\\"}\" {print \$2}') -ge 1 ]]" \
  || fail "no exec counted: $(curl -sf http://127.0.0.1:$port/metrics | grep events_total)"
m=$(curl -sf http://127.0.0.1:$port/metrics)
(( $(metric 'sightline_events_total{source="file",kind="open"}') >= 1 )) || fail "no open counted"
# Aggregations are collected once a second.
wait_for 5 bash -c "curl -sf http://127.0.0.1:$port/metrics | grep -qE '^sightline_syscalls_total\{comm=\"true\",syscall=\"execve\"\} [1-9]'" \
  || fail "no syscall counted: $(curl -sf http://127.0.0.1:$port/metrics | grep syscalls_total | head)"
(( $(metric 'sightline_process_table_entries') > 1 )) || fail "process table empty"
[[ $(metric 'sightline_events_lost_total{source="file",reason="ringbuf_full"}') == 0 ]] || fail "events lost at idle"
[[ $(metric 'sightline_source_up{source="process"}') == 1 ]] || fail "source_up"
# Each program's cost, from the kernel's bpf_stats on one second in five (overhead.bpf_stats:
# sampled): the scheduler's programs run in every window.
wait_for 12 bash -c "curl -sf http://127.0.0.1:$port/metrics | grep -qE '^sightline_bpf_program_run_seconds_total\{source=\"sched\",program=\"sl_sched_switch\"\} [0-9.e-]*[1-9]'" \
  || fail "no BPF run statistics: $(curl -sf http://127.0.0.1:$port/metrics | grep bpf_program | head)"
grep -qE '^process_resident_memory_bytes [1-9]' <<<"$m" || fail "no RSS"
# A helper call that fails in the kernel is counted at its site: an openat of a bad pointer
# makes the file source's path read fault (the syscall itself fails with EFAULT).
python3 -c 'import ctypes; ctypes.CDLL(None).syscall(257, -100, 1, 0)'
site='sightline_bpf_errors_total\{source="file",where="file\.bpf\.c:[0-9]+",helper="probe_read_user_str",errno="EFAULT"\} [1-9]'
wait_for 5 bash -c "curl -sf http://127.0.0.1:$port/metrics | grep -qE '^$site'" \
  || fail "bad pointer not counted: $(curl -sf http://127.0.0.1:$port/metrics | grep bpf_errors)"
# The exposition, aggregations included, passes Prometheus' own linter (naming, units,
# HELP/TYPE, duplicates).
m=$(curl -sf http://127.0.0.1:$port/metrics)
grep -q '^sightline_runqueue_latency_seconds_bucket' <<<"$m" || fail "no run-queue histogram"
lint=$(promtool check metrics <<<"$m" 2>&1) || fail "promtool check metrics: $lint"
[[ -z $lint ]] || fail "promtool check metrics warns: $lint"
# Every sample belongs to a family with HELP and TYPE (histograms: _bucket, _sum, _count).
awk '/^# HELP /{h[$3]=1} /^# TYPE /{t[$3]=1}
     /^[a-z]/{n=$1; sub(/\{.*/,"",n); b=n; sub(/_(bucket|sum|count)$/,"",b)
              if(!(h[n]&&t[n]) && !(h[b]&&t[b])){print "no HELP/TYPE: " n; bad=1}} END{exit bad}' <<<"$m" | head -5 \
  && [[ ${PIPESTATUS[0]} == 0 ]] || fail "metrics without HELP/TYPE"
# OpenMetrics when the scraper asks for it (Prometheus does by default).
hdr=$(mktemp)
om=$(curl -sf -D "$hdr" -H 'Accept: application/openmetrics-text;version=1.0.0,text/plain;q=0.5' \
  http://127.0.0.1:$port/metrics)
grep -qi '^content-type: application/openmetrics-text; version=1.0.0' "$hdr" || fail "OpenMetrics content type: $(cat "$hdr")"
rm -f "$hdr"
[[ $(tail -n 1 <<<"$om") == "# EOF" ]] || fail "OpenMetrics text does not end with # EOF"
grep -q '^# TYPE sightline_events counter$' <<<"$om" || fail "OpenMetrics counter family named with _total"
grep -q '^sightline_events_total{' <<<"$om" || fail "OpenMetrics counter samples lost _total"
# The packets source leaves lo alone by default (sources.packets.loopback): the scrapes cross it.
grep -qE '^sightline_network_packets_total\{interface="lo"' <<<"$m" \
  && fail "lo counted by default: $(grep 'interface="lo"' <<<"$m" | head -3)"

# Short-lived processes are named in the aggregations even when they start while a collection
# runs (the kernel counts them at once; their exec events are read before they are named):
# 200 execs of a program of known name, every execve counted under that name.
tmpbin=$(mktemp -d)
cp /bin/true "$tmpbin/sl-e2e-short"
for i in $(seq 1 200); do "$tmpbin/sl-e2e-short"; done
q='sightline_syscalls_total{comm="sl-e2e-short",syscall="execve"}'
wait_for 5 bash -c "[[ \$(curl -sf http://127.0.0.1:$port/metrics | awk -v m='$q' '\$1 == m {print \$2}') == 200 ]]" \
  || fail "execve of 200 short-lived processes: $(curl -sf http://127.0.0.1:$port/metrics | grep -E 'syscall="execve"' | grep -E 'sl-e2e-short|unknown')"
rm -rf "$tmpbin"

kill -TERM $pid
rc=0
wait $pid || rc=$?
trap 'rm -f "$log" "$cfg"' EXIT
[[ $rc == 0 ]] || { cat "$log"; fail "agent exited $rc on SIGTERM"; }
grep -q "stopping" "$log" || fail "no clean shutdown message"
kill -0 "$helper" 2>/dev/null && fail "the sl-bpf-stats helper outlived the agent"
# The kernel frees tracing programs after an RCU grace period: give it a moment.
no_programs_left || fail "BPF programs left loaded after SIGTERM: $(bpftool prog list | grep 'name sl_')"

# A bad configuration is refused with the file, line and key.
bad=$(mktemp --suffix=.yaml)
printf 'listen: 127.0.0.1:%s\nsorces: {}\n' "$port" >"$bad"
out=$("$SL" agent --config "$bad" 2>&1) && fail "agent accepted a bad config"
grep -q "$bad:2:1: unknown key 'sorces'" <<<"$out" || fail "unclear config error: $out"
rm -f "$bad"
echo "agent e2e: ok"
