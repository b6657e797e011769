#!/usr/bin/env bash
# Detection rules as a person relies on them: the agent with the built-in rules, each rule's
# real action performed and a benign look-alike that must not fire; alerts in the JSON-lines
# file, at a webhook and in a real Alertmanager; a rules file reloaded on SIGHUP; the per-rule
# rate limit; `sightline rules validate` errors.
set -euo pipefail
source "$(dirname "$0")/lib.bash"
SL=$1
PY=/usr/bin/python3
command -v prometheus-alertmanager >/dev/null || fail "prometheus-alertmanager missing: scripts/deps.sh installs it"
tmp=$(mktemp -d)
m=sl-e2e-$$  # marker in every path and name this test creates
cg=
made_modules=
added_meta=
cleanup() {
  stop_bg
  rm -f /etc/sl-e2e-* /usr/local/bin/sl-e2e-* /boot/sl-e2e-* /etc/cron.d/sl-e2e-* /var/log/sl-e2e-* /root/.ssh/id_sl-e2e-*
  [[ -d /etc/sudoers.d ]] && rm -f /etc/sudoers.d/sl-e2e-* && rmdir /etc/sudoers.d 2>/dev/null || true
  [[ -n $made_modules ]] && rm -rf /lib/modules
  [[ -n $cg ]] && rmdir "$cg" 2>/dev/null || true
  [[ -n $added_meta ]] && ip addr del 169.254.169.254/32 dev lo 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT

# Bad rules are refused with file, line, column and a suggestion.
printf -- '- rule: r\n  condition: proc.nmae = x\n  output: o\n' >"$tmp/bad.yaml"
out=$("$SL" rules validate "$tmp/bad.yaml" 2>&1) && fail "a bad rules file validated"
grep -q "$tmp/bad.yaml:2:14: rule 'r': condition: column 1: unknown field or macro 'proc.nmae'; did you mean 'proc.name'?" <<<"$out" \
  || fail "unclear rules error: $out"
"$SL" rules validate | grep "rules (.* enabled): ok" >/dev/null || fail "the built-in rules do not validate"

# Alertmanager and a webhook receiver on 127.0.0.1.
amport=$(free_port)
printf 'route:\n  receiver: "null"\nreceivers:\n  - name: "null"\n' >"$tmp/am.yml"
prometheus-alertmanager --config.file="$tmp/am.yml" --storage.path="$tmp/am" \
  --web.listen-address=127.0.0.1:$amport --cluster.listen-address= >"$tmp/am.log" 2>&1 &
bg_pid $!
hookport=$(free_port)
cat >"$tmp/hook.py" <<'PY'
import http.server, sys
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with open(sys.argv[2], "ab") as f: f.write(body + b"\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
http.server.HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
PY
$PY "$tmp/hook.py" $hookport "$tmp/hook.jsonl" &
bg_pid $!
wait_for 20 curl -sf http://127.0.0.1:$amport/-/ready || fail "alertmanager: $(cat "$tmp/am.log")"

# A rules file of our own, reloaded on SIGHUP later.
cat >"$tmp/extra.yaml" <<YAML
- rule: Marker A
  condition: evt.type = exec and proc.name = $m-a
  output: "marker a %proc.name"
  priority: NOTICE
- rule: Marker U
  condition: evt.type = exec and proc.name = $m-u
  output: "marker u user=%user.name uid=%user.uid container=%container.id"
  priority: NOTICE
YAML
port=$(free_port)
cat >"$tmp/agent.yaml" <<YAML
listen: 127.0.0.1:$port
rules:
  files: [$tmp/extra.yaml]
  json_file: $tmp/alerts.jsonl
  webhook: http://127.0.0.1:$hookport/alert
  alertmanager: http://127.0.0.1:$amport
YAML
"$SL" agent --config "$tmp/agent.yaml" >"$tmp/agent.log" 2>&1 &
agent=$!
bg_pid $agent
wait_for 30 curl -sf http://127.0.0.1:$port/healthz || fail "agent: $(cat "$tmp/agent.log")"
sleep 1

# --- The actions, each with its benign look-alike ---
cat >"$tmp/spawn.c" <<'C'
#include <sys/wait.h>
#include <unistd.h>
int main(int argc, char** argv) { if (fork() == 0) { execv(argv[1], argv + 1); _exit(127); } wait(0); return 0; }
C
cc -o "$tmp/nginx" "$tmp/spawn.c" && cp "$tmp/nginx" "$tmp/myserver"
"$tmp/nginx" /bin/sh -c "true $m-web"                      # shell under a server
"$tmp/myserver" /bin/sh -c "true $m-benign-web"            # ... under some other program
$PY -c "open('/etc/shadow').read()"                        # sensitive file
$PY -c "open('/etc/passwd').read()"
mkdir -p /root/.ssh && echo k >/root/.ssh/id_$m && echo k >/root/.ssh/id_$m.pub
cat /root/.ssh/id_$m >/dev/null; cat /root/.ssh/id_$m.pub >/dev/null
sh -c "echo x > /etc/$m"                                   # below /etc
sh -c "echo x > $tmp/$m-not-etc"
sh -c "echo x > /usr/local/bin/$m"                         # binary dir
sh -c "echo x > /boot/$m"                                  # /boot
sh -c "echo '# x' > /etc/cron.d/$m"                        # crontab
touch /var/log/$m.log
sh -c ": > /var/log/$m.log"                                # log cleared (O_TRUNC)
sh -c "echo appended >> /var/log/$m.log"                   # ... appended is fine
mkdir -p "$tmp/home/.ssh"
sh -c "echo key > $tmp/home/.ssh/authorized_keys"          # authorized_keys
sh -c "echo host > $tmp/home/.ssh/known_hosts"
sh -c ": > $tmp/home/.bash_history"                        # history
sh -c ": > $tmp/home/bash_history_$m.txt"
cp /bin/true /tmp/$m-dropper && /tmp/$m-dropper && rm -f /tmp/$m-dropper   # from /tmp
/bin/true
$PY -c "import socket; s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(); print(s.getsockname()[1]); import time; time.sleep(30)" >"$tmp/lport" &
bg_pid $!
wait_for 5 test -s "$tmp/lport"
bash -c "exec 3<>/dev/tcp/127.0.0.1/$(cat "$tmp/lport"); echo $m >&3" || true   # reverse shell
bash -c "echo $m-benign-devnull > /dev/null"
lp=$(cat "$tmp/lport")
$PY -c "
import os, socket
s = socket.create_connection(('127.0.0.1', $lp)); os.dup2(s.fileno(), 0); os.dup2(s.fileno(), 1)" </dev/null >/dev/null
$PY -c "
import os, socket
a, b = socket.socketpair(); os.dup2(a.fileno(), 0)                     # a unix socket: fine
s = socket.create_connection(('127.0.0.1', $lp)); os.dup2(s.fileno(), 7)  # not stdio: fine"
bash -c "exec 0</dev/tcp/127.0.0.1/$lp; true"                         # stdin from the network
ln -s $PY "$tmp/ncat"
bind_shell="import socket; s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen(); c = socket.create_connection(s.getsockname()); a, _ = s.accept()"
"$tmp/ncat" -c "$bind_shell"                                           # a bind shell accepts
$PY -c "$bind_shell"                                                   # ... a python server: fine
cp /bin/true "$tmp/nc"; cp /bin/true "$tmp/nmap"
"$tmp/nc" -e /bin/sh 127.0.0.1 9 "$m"                      # netcat -e
"$tmp/nc" -z 127.0.0.1 9 "$m-benign"
"$tmp/nmap" -sS 127.0.0.1 "$m"                             # scanner
grep -r id_rsa /nonexistent-$m 2>/dev/null || true         # credential search
grep -r hello /nonexistent-$m-benign 2>/dev/null || true
sleep 30 &
victim=$!
bg_pid $victim
cat /proc/$victim/environ >/dev/null                       # another process's environment
cat /proc/self/environ >/dev/null
[[ -d /lib/modules ]] || { mkdir -p /lib/modules; made_modules=1; }
sh -c "echo x > /lib/modules/$m.ko"                        # kernel module file
[[ -d /etc/sudoers.d ]] || mkdir /etc/sudoers.d
sh -c "echo '# x' > /etc/sudoers.d/$m"                     # sudoers
$PY -c "
import os
fd = os.memfd_create('$m')
os.write(fd, open('/bin/true', 'rb').read())
os.execv('/proc/self/fd/%d' % fd, ['$m-fileless'])"      # fileless
$PY -c "import os; os.execv('/bin/true', ['true'])"
# Package manager in a container: a cgroup named like Docker's, dpkg run inside it.
cg=$(grep -m1 cgroup2 /proc/mounts | awk '{print $2}')/system.slice/docker-$(printf 'e2e%061d' 0).scope
mkdir -p "$cg"
sh -c "echo \$\$ > $cg/cgroup.procs; exec dpkg --version" >/dev/null
dpkg --version >/dev/null                                   # on the host: fine
# user.name as the container sees it: a static program in a root of its own with its own
# /etc/passwd (uid 4242 is "app-$$" there, nobody on the host), in the Docker-shaped cgroup.
mkdir -p "$tmp/root/etc"
echo "app-$$:x:4242:4242::/:/bin/sh" >"$tmp/root/etc/passwd"
printf '#include <unistd.h>\nint main(void) { sleep(2); return 0; }\n' >"$tmp/sleep2.c"
cc -static -o "$tmp/root/$m-u" "$tmp/sleep2.c"
sh -c "echo \$\$ > $cg/cgroup.procs; exec chroot --userspec=4242:4242 $tmp/root /$m-u"
$PY -c "
import socket, time
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); srv.bind(('127.0.0.1', 4444)); srv.listen()
c = socket.create_connection(('127.0.0.1', 4444)); a, _ = srv.accept(); c.close(); a.close()
b = socket.socket(); b.bind(('127.0.0.1', 0)); b.listen(); p = b.getsockname()[1]
c = socket.create_connection(('127.0.0.1', p)); a, _ = b.accept(); c.close(); a.close()
time.sleep(0.2)"                                            # connection to 4444 (and to a benign port)
# A setuid-root copy of id run by nobody: euid 0 after the exec; the plain id as nobody is not.
mkdir -p "$tmp/pub" && chmod 755 "$tmp" "$tmp/pub"
cp /usr/bin/id "$tmp/pub/$m-suid" && chmod 4755 "$tmp/pub/$m-suid"
setpriv --reuid=65534 --regid=65534 --clear-groups "$tmp/pub/$m-suid" >/dev/null
setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/id >/dev/null

# A denied network: the metadata address, put on lo for a moment (unless the machine has it
# already: some clouds' agents do), with a listener on it.
if ! ip addr show dev lo | grep "169.254.169.254/32" >/dev/null; then
  ip addr add 169.254.169.254/32 dev lo && added_meta=1
fi
$PY -c "
import socket
s = socket.socket(); s.bind(('169.254.169.254', 0)); s.listen(); p = s.getsockname()[1]
c = socket.create_connection(('169.254.169.254', p)); a, _ = s.accept(); c.close(); a.close()"
[[ -n $added_meta ]] && ip addr del 169.254.169.254/32 dev lo
added_meta=

# Security syscalls (python's ctypes calls them directly; the look-alikes come from allowed tools).
mkdir -p "$tmp/mnt" "$tmp/mnt2"
echo x >"$tmp/suid-$m"; echo x >"$tmp/plain-$m"
touch /var/log/$m-del.log "$tmp/$m-del.log"
$PY - "$victim" "$tmp/mnt" <<'PYSEC'
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
victim, mnt = int(sys.argv[1]), sys.argv[2].encode()
libc.ptrace(16, victim, 0, 0); libc.ptrace(17, victim, 0, 0)   # PTRACE_ATTACH, DETACH
libc.syscall(310, victim, 0, 0, 0, 0, 0)                        # process_vm_readv
attr = ctypes.create_string_buffer(128)
libc.syscall(321, 5, attr, 128)                                  # bpf(BPF_PROG_LOAD), refused
libc.syscall(321, 11, attr, 128)                                 # bpf(BPF_PROG_GET_NEXT_ID): benign
libc.syscall(304, -1, None, 0)                                   # open_by_handle_at
libc.mount(b"tmpfs", mnt, b"tmpfs", 0, None); libc.umount(mnt)
if os.fork() == 0:
    libc.unshare(0x40000000); os._exit(0)                        # CLONE_NEWNET
os.wait()
pid = libc.syscall(56, 0x04000000 | 17, 0, 0, 0, 0)              # clone(CLONE_NEWUTS|SIGCHLD)
if pid == 0: os._exit(0)
os.waitpid(pid, 0)
args = (ctypes.c_uint64 * 8)(0x08000000, 0, 0, 0, 17, 0, 0, 0)   # clone_args: CLONE_NEWIPC
pid = libc.syscall(435, args, 64)                                # clone3
if pid == 0: os._exit(0)
os.waitpid(pid, 0)
if os.fork() == 0: os._exit(0)                                   # a plain fork: fine
os.wait()
PYSEC
unshare -n true                                            # the unshare tool: allowed
mount -t tmpfs tmpfs "$tmp/mnt2" && umount "$tmp/mnt2"     # mount(8): allowed
chmod u+s "$tmp/suid-$m"                                   # setuid bit
chmod 755 "$tmp/plain-$m"
rm /var/log/$m-del.log                                     # log deleted
rm "$tmp/$m-del.log"
cp "$tmp/nginx" "$tmp/$m-a"; "$tmp/$m-a" /bin/true  # marker A

# Every alert reaches the JSON file: check each rule, and that its look-alike did not fire.
sleep 2
python3 - "$tmp/alerts.jsonl" "$m" "$lp" $$ <<'PY' || fail "alerts: $(cut -c1-300 "$tmp/alerts.jsonl")"
import json, os, sys
alerts = [json.loads(l) for l in open(sys.argv[1])]
m, lp = sys.argv[2], sys.argv[3]
def fired(rule, needle):
    return any(a["rule"] == rule and needle in a["output"] for a in alerts)
want = [
    ("Shell spawned by a server process", m + "-web", m + "-benign-web"),
    ("Sensitive file read by an unexpected program", "/etc/shadow", "/etc/passwd"),
    ("Private key read by an unexpected program", "/root/.ssh/id_" + m, "id_" + m + ".pub"),
    ("Write below /etc", "/etc/" + m, m + "-not-etc"),
    ("Write below binary directories", "/usr/local/bin/" + m, None),
    ("Write below /boot", "/boot/" + m, None),
    ("Crontab modified", "/etc/cron.d/" + m, None),
    ("Log files cleared", "/var/log/" + m + ".log", "appended"),
    ("SSH authorized keys modified", "authorized_keys", "known_hosts"),
    ("Shell history deleted or truncated", ".bash_history", "bash_history_" + m),
    ("Program run from a temporary directory", "/tmp/" + m + "-dropper", "file=/bin/true"),
    ("Reverse shell through /dev/tcp", "/dev/tcp/127.0.0.1", m + "-benign-devnull"),
    ("Netcat with command execution", "-e /bin/sh", m + "-benign"),
    ("Network scanner run", "nmap -sS", None),
    ("Search for credentials", "id_rsa", m + "-benign"),
    ("Another process's environment or memory read", "/environ", "/proc/self/environ"),
    ("Kernel module file written", "/lib/modules/" + m + ".ko", None),
    ("Sudoers modified", "/etc/sudoers.d/" + m, None),
    ("Fileless execution", "/proc/self/fd/", "file=/bin/true"),
    ("Package manager run in a container", "container=e2e", "container= "),
    ("Connection to a remote-shell port", ":4444", None),
    ("Outbound connection to a denied network", "to=169.254.169.254:", "to=127.0.0.1"),
    ("Privilege escalation through a setuid program", m + "-suid", "file=/usr/bin/id"),
    ("Marker A", m + "-a", None),
    ("Ptrace of another process", "request=16", "request=17"),
    ("Another process's memory accessed", "process_vm_readv", None),
    ("BPF program loaded by an unexpected process", "python3", None),
    ("Namespace change by a non-runtime process", "CLONE_NEWNET (program=python3", "program=unshare"),
    ("Namespace change by a non-runtime process", "clone CLONE_NEWUTS (program=python3", "clone  ("),
    ("Namespace change by a non-runtime process", "clone3 CLONE_NEWIPC (program=python3", None),
    ("Standard input or output redirected to a network connection", "fd 0 of python3 redirected to a network connection (to=127.0.0.1:" + lp, "to=:0"),
    ("Standard input or output redirected to a network connection", "fd 1 of python3 redirected", "fd 7 of"),
    ("Standard input or output redirected to a network connection", "fd 0 of bash redirected", None),
    ("Inbound connection to a shell or netcat", "Inbound connection to ncat (from=127.0.0.1:", "Inbound connection to python3"),
    ("Marker U", "user=app-" + sys.argv[4] + " uid=4242 container=e2e", None),
    ("Mount by an unexpected program", "/mnt (result=0 program=python3", "program=mount"),
    ("Setuid or setgid bit set", "suid-" + m, "plain-" + m),
    ("Log file deleted", "/var/log/" + m + "-del.log", "/tmp/"),
    ("File handle opened by handle", "program=python3", None),
]
bad = []
for rule, yes, no in want:
    if not fired(rule, yes): bad.append("missing: %s (%s)" % (rule, yes))
    if no and fired(rule, no): bad.append("false positive: %s (%s)" % (rule, no))
for a in alerts:
    assert a["event"]["evt.type"] and a["priority"] and "ancestry" in a, a
# bpf(BPF_PROG_GET_NEXT_ID) by the same process is not a load: one alert, for the load.
n = sum(1 for a in alerts if a["rule"] == "BPF program loaded by an unexpected process" and "python3" in a["output"])
if n != 1: bad.append("BPF load alerts from python3: %d, want 1" % n)
if bad:
    print("\n".join(bad)); sys.exit(1)
PY

# The webhook and Alertmanager received them.
wait_for 10 grep -q '"rule":"Sensitive file read by an unexpected program"' "$tmp/hook.jsonl" || fail "webhook: $(head -c 500 "$tmp/hook.jsonl" 2>/dev/null)"
wait_for 10 bash -c "curl -sf http://127.0.0.1:$amport/api/v2/alerts | grep -q '\"alertname\":\"Sensitive file read by an unexpected program\"'" \
  || fail "alertmanager: $(curl -sf http://127.0.0.1:$amport/api/v2/alerts | head -c 500)"

# A syscall no rule names is attached but off in the kernel: 200 setuid calls send nothing.
ln -s $PY "$tmp/$m-su"
syscall_events() { curl -sf http://127.0.0.1:$port/metrics | awk '/^sightline_events_total\{.*kind="syscall"/ {print $2}'; }
before=$(syscall_events)
"$tmp/$m-su" -c "import os; [os.setuid(0) for _ in range(200)]"
sleep 0.5
after=$(syscall_events)
(( after - before < 100 )) || fail "setuid calls were sent with no rule on them: $before -> $after syscall events"

# SIGHUP: the file now names marker B; A no longer fires; a rule on setuid turns it on.
sed -i "s/Marker A/Marker B/; s/$m-a/$m-b/; s/marker a/marker b/" "$tmp/extra.yaml"
printf -- '- rule: Marker S\n  condition: evt.type = syscall and syscall.name = setuid and proc.name = %s-su\n  output: "marker s %%syscall.name"\n  priority: notice\n' "$m" >>"$tmp/extra.yaml"
kill -HUP $agent
wait_for 5 grep -q "rules: reloaded" "$tmp/agent.log" || fail "no reload: $(tail -5 "$tmp/agent.log")"
"$tmp/$m-su" -c "import os; os.setuid(0)"
wait_for 5 grep -q '"rule":"Marker S"' "$tmp/alerts.jsonl" || fail "a syscall named by a reloaded rule was not turned on"
cp "$tmp/nginx" "$tmp/$m-b"
"$tmp/$m-a" /bin/true; "$tmp/$m-b" /bin/true
wait_for 5 grep -q '"rule":"Marker B"' "$tmp/alerts.jsonl" || fail "the reloaded rule did not fire"
[[ $(grep -c '"rule":"Marker A"' "$tmp/alerts.jsonl") == 1 ]] || fail "the removed rule still fires"
# A broken file on reload keeps the rules that work.
echo "- rule: [" >"$tmp/extra.yaml"
kill -HUP $agent
wait_for 5 grep -q "reload failed, the previous rules stay" "$tmp/agent.log" || fail "a bad reload was not refused"
"$tmp/$m-b" /bin/true
wait_for 5 bash -c "[[ \$(grep -c '\"rule\":\"Marker B\"' $tmp/alerts.jsonl) == 2 ]]" || fail "rules lost after a failed reload"

# Rate limit: 40 shells under "nginx" in a burst: at most the burst (20) plus the refill.
for i in $(seq 40); do "$tmp/nginx" /bin/sh -c "true $m-flood"; done
sleep 1
n=$(grep "$m-flood" "$tmp/alerts.jsonl" | grep -c "\"rule\":\"Shell spawned by a server process\"" || true)
(( n >= 10 && n <= 30 )) || fail "rate limit: $n alerts of 40"
metrics=$(curl -sf http://127.0.0.1:$port/metrics)
grep -qE '^sightline_alerts_suppressed_total\{rule="Shell spawned by a server process"\} [1-9]' <<<"$metrics" \
  || fail "suppressed alerts not counted: $(grep alerts_ <<<"$metrics")"
grep -qE '^sightline_rules_reloads_total\{result="failed"\} 1$' <<<"$metrics" || fail "reload failures not counted"

# `sightline rules run`: only the sources the rules need (an exec rule: the process source).
printf -- '- rule: Marker C\n  condition: evt.type = exec and proc.name = %s-c\n  output: "c %%proc.cmdline"\n  priority: notice\n' "$m" >"$tmp/c.yaml"
"$SL" rules run --no-defaults "$tmp/c.yaml" --json -d 3 >"$tmp/run.out" 2>"$tmp/run.err" &
bg_pid $!
wait_for 10 grep -q "1 rules on process (" "$tmp/run.err" || fail "rules run: $(cat "$tmp/run.err")"
cp "$tmp/nginx" "$tmp/$m-c"; "$tmp/$m-c" /bin/true
wait_for 5 grep -q '"rule":"Marker C"' "$tmp/run.out" || fail "rules run printed no alert: $(cat "$tmp/run.out" "$tmp/run.err")"
# A rule on one syscall: the kernel is told about that one only.
printf -- '- rule: P\n  condition: evt.type = syscall and syscall.name = ptrace\n  output: p\n  priority: notice\n' >"$tmp/p.yaml"
out=$("$SL" rules run --no-defaults "$tmp/p.yaml" -d 0.5 2>&1) || fail "rules run: $out"
grep -q "1 rules on process, security (ptrace) (" <<<"$out" || fail "not only ptrace attached: $out"
echo "rules e2e: ok"
