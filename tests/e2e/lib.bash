# Shared helpers of the e2e scripts (sourced, not a test itself).
fail() { echo "FAIL: $*" >&2; exit 1; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
# wait_for SECONDS CMD...: retries CMD every 0.1 s
wait_for() {
  local t=$1; shift
  for ((i = 0; i < t * 10; i++)); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  return 1
}
# Our BPF programs all start with sl_ (bpftool shows up to 15 characters of a name).
our_programs() { bpftool prog list 2>/dev/null | grep -cE 'name sl_' || true; }
# Background processes to stop on exit (SIGTERM: async jobs ignore SIGINT; then SIGKILL): register with `bg_pid PID`.
BG_PIDS=()
bg_pid() { BG_PIDS+=("$1"); }
stop_bg() {
  local p i
  for p in "${BG_PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for ((i = 0; i < 30; i++)); do  # up to 3 s for a clean exit (the agent detaches everything)
    local alive=0
    for p in "${BG_PIDS[@]}"; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for p in "${BG_PIDS[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
}
