#!/usr/bin/env bash
# The Debian package as a user installs it: scripts/package.sh builds it; its dependencies are
# runtime libraries only; apt installs it into a clean Debian 12 root (mmdebstrap: nothing of
# this machine's build tree in it); that root boots with systemd as init in Debian's 6.1 kernel
# (scripts/vmtest.sh --systemd), where the service started at boot answers /healthz and
# /metrics with every source up, holds only the capabilities it keeps, passes
# `systemd-analyze verify`; an upgrade (dpkg -i again) keeps the user's configuration and
# store and restarts the agent; `systemctl stop` leaves no program; purge removes the store.
set -euo pipefail
source "$(dirname "$0")/../e2e/lib.bash"
root=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
command -v mmdebstrap >/dev/null || fail "mmdebstrap missing: scripts/deps.sh installs it"

deb=$(cd "$root" && bash scripts/package.sh | tail -1)
deb=$root/$deb
[[ -f $deb ]] || fail "scripts/package.sh made no package: $deb"
depends=$(dpkg-deb -f "$deb" Depends)
echo "Depends: $depends"
grep -q "libbpf1" <<<"$depends" || fail "the package does not depend on libbpf1: $depends"
! grep -qE -- "-dev\b" <<<"$depends" || fail "the package depends on a -dev package: $depends"
[[ $(dpkg-deb -I "$deb" conffiles) == /etc/sightline/sightline.yaml ]] || fail "conffiles: $(dpkg-deb -I "$deb" conffiles)"
files=$(dpkg-deb -c "$deb")
for f in ./usr/bin/sightline ./etc/sightline/sightline.yaml ./lib/systemd/system/sightline.service \
         ./usr/share/man/man8/sightline.8.gz; do
  grep -q " $f$" <<<"$files" || fail "$f not in the package"
done

# A clean Debian 12 root with systemd, and the package installed by apt from the file (apt
# fetches the dependencies from Debian's archive, as on a user's machine).
rootfs=$tmp/rootfs
mmdebstrap --variant=minbase --include=systemd,systemd-sysv,dbus,curl,bpftool,man-db \
  --customize-hook="copy-in $deb /root" \
  --customize-hook="chroot \"\$1\" apt-get install -y -q /root/$(basename "$deb")" \
  bookworm "$rootfs" >"$tmp/mmdebstrap.log" 2>&1 || fail "mmdebstrap: $(tail -20 "$tmp/mmdebstrap.log")"
[[ -L $rootfs/etc/systemd/system/multi-user.target.wants/sightline.service ]] \
  || fail "the service is not enabled after install"
[[ ! -e $rootfs/usr/lib/x86_64-linux-gnu/libbpf.so ]] || fail "a -dev package came with it"

cat >"$rootfs/root/guest.sh" <<'GUEST'
set -u
deb=$(ls /root/sightline_*.deb)
echo "verify: $(systemd-analyze verify sightline.service 2>&1 | grep -v proc-sys-fs-binfmt | tr '\n' ' ')."
for i in $(seq 300); do curl -sf http://127.0.0.1:9190/healthz >/dev/null && break; sleep 0.2; done
echo "state: $(systemctl is-active sightline) $(systemctl is-enabled sightline)"
curl -sf http://127.0.0.1:9190/healthz | sed 's/^/healthz: /'
curl -sf http://127.0.0.1:9190/metrics | grep -E '^sightline_source_up' | sed 's/^/metrics: /'
pid=$(systemctl show -p MainPID --value sightline)
systemctl reload sightline; echo "reload exit $? pid $(systemctl show -p MainPID --value sightline)"
echo "man: $(man -w sightline 2>&1)"
grep -E '^Cap(Eff|Bnd)' /proc/$pid/status | sed 's/^/caps: /'
# The user's changes: another port; the store's rows.
sed -i 's/^listen: 127.0.0.1:9190$/listen: 127.0.0.1:9191/' /etc/sightline/sightline.yaml
for i in $(seq 20); do /bin/true; done
execs() { sightline query --format csv "SELECT count(*) FROM exec" | tail -1 | tr -d '\r'; }
for i in $(seq 50); do [ "$(execs)" -ge 20 ] 2>/dev/null && break; sleep 0.2; done
execs_before=$(execs)
inode_before=$(stat -c %i /var/lib/sightline/sightline.db)
echo "store before: $execs_before execs"
# The upgrade: the same package again (postinst configure with the old version: a restart).
# Bounded, and on a hang the guest says where (session 16 and 17 CI runs hung here once each).
timeout -k 10 240 dpkg -i "$deb" </dev/null >/tmp/dpkg.log 2>&1; rc=$?; echo "upgrade exit $rc"
if [ "$rc" != 0 ]; then
  tail -20 /tmp/dpkg.log | sed 's/^/dpkg: /'
  systemctl status --no-pager sightline 2>&1 | head -20 | sed 's/^/status: /'
  journalctl --no-pager -u sightline -n 40 2>&1 | sed 's/^/journal: /'
  dmesg | tail -20 | sed 's/^/dmesg: /'
fi
for i in $(seq 300); do curl -sf http://127.0.0.1:9191/healthz >/dev/null && break; sleep 0.2; done
echo "after upgrade: listen $(grep '^listen:' /etc/sightline/sightline.yaml), pid $pid -> $(systemctl show -p MainPID --value sightline)"
curl -sf http://127.0.0.1:9191/healthz >/dev/null && echo "answers on 9191"
[ "$(stat -c %i /var/lib/sightline/sightline.db)" = "$inode_before" ] && echo "store kept"
echo "store after: $(execs) execs"
systemctl stop sightline; echo "stopped: $(systemctl is-active sightline)"
for i in $(seq 10); do [ "$(bpftool prog list | grep -cE 'name sl_')" = 0 ] && break; sleep 0.2; done  # freed a little after exit
echo "programs left: $(bpftool prog list | grep -cE 'name sl_')"
dpkg --purge sightline </dev/null >/tmp/dpkg.log 2>&1; echo "purge exit $?"
echo "after purge: $(ls /var/lib/sightline /lib/systemd/system/sightline.service 2>&1 | tr '\n' ' ')"
GUEST
out=$tmp/guest.txt
# A guest that froze under TCG (vmtest's exit 124: a soft lockup in exc_int3 once in CI, not on
# the rerun) boots once more, and the freeze is reported; any other failure, or a second freeze,
# fails. The retry boots a copy of the root as it was before the first boot.
cp -a "$rootfs" "$tmp/rootfs.clean"
rc=0
(cd "$root" && bash scripts/vmtest.sh --root "$rootfs" --systemd --timeout 600 -- bash /root/guest.sh) >"$out" 2>&1 || rc=$?
if ((rc == 124)); then
  echo "retried after: the guest froze: $(grep '^vmtest.sh' "$out" | tr '\n' ' ')"
  rm -rf "$rootfs" && mv "$tmp/rootfs.clean" "$rootfs"
  rc=0
  (cd "$root" && bash scripts/vmtest.sh --root "$rootfs" --systemd --timeout 600 -- bash /root/guest.sh) >"$out" 2>&1 || rc=$?
fi
((rc == 0)) || fail "the guest failed: $(tail -30 "$out")"
cat "$out"
grep -q "^verify: \.$" "$out" || fail "systemd-analyze verify: $(grep '^verify:' "$out")"
grep -q "^state: active enabled$" "$out" || fail "the service: $(grep '^state:' "$out")"
grep -q "^man: /usr/share/man/man8/sightline.8.gz$" "$out" || fail "man -w sightline: $(grep '^man:' "$out")"
pid=$(sed -n 's/^after upgrade: .*pid \([0-9]*\) -> .*/\1/p' "$out")
grep -q "^reload exit 0 pid $pid$" "$out" || fail "systemctl reload: $(grep '^reload' "$out") (agent pid $pid)"
grep -q '^healthz: ' "$out" || fail "no /healthz"
grep -q '^metrics: sightline_source_up{source="process"} 1$' "$out" || fail "process source not up"
down=$(grep -c '^metrics: sightline_source_up{.*} 0$' "$out" || true)
# The 6.1 guest has no cgroup v1 memory controller; every source this kernel supports is up
# (kernel_6_1.sh checks which those are), none went down under the unit's restrictions.
[[ $down == 0 ]] || fail "sources down under the unit: $(grep '^metrics: .* 0$' "$out")"
# After start the agent keeps CAP_DAC_READ_SEARCH and CAP_SYS_PTRACE, and CAP_BPF for the Go
# binaries that start later (sources.l7.go_tls).
grep -q '^caps: CapEff:[[:space:]]*0000008000080004$' "$out" || fail "effective capabilities: $(grep '^caps:' "$out")"
grep -q '^upgrade exit 0$' "$out" || fail "the upgrade failed"
grep -q '^after upgrade: listen listen: 127.0.0.1:9191,' "$out" || fail "the user's configuration was not kept: $(grep '^after upgrade' "$out")"
grep -q '^answers on 9191$' "$out" || fail "the upgraded agent does not answer on the user's port"
grep -q '^store kept$' "$out" || fail "the store was replaced on upgrade"
old=$(sed -n 's/^after upgrade: .*pid \([0-9]*\) -> .*/\1/p' "$out"); new=$(sed -n 's/^after upgrade: .* -> \([0-9]*\)$/\1/p' "$out")
[[ -n $old && -n $new && $old != "$new" && $new != 0 ]] || fail "the upgrade did not restart the agent: $old -> $new"
before=$(sed -n 's/^store before: \([0-9]*\) execs$/\1/p' "$out"); after=$(sed -n 's/^store after: \([0-9]*\) execs$/\1/p' "$out")
[[ -n $before && -n $after ]] && ((before >= 20 && after >= before)) || fail "store rows: $before before, $after after"
grep -q '^stopped: inactive$' "$out" || fail "systemctl stop: $(grep '^stopped' "$out")"
grep -q '^programs left: 0$' "$out" || fail "programs left after stop: $(grep '^programs left' "$out")"
grep -q '^purge exit 0$' "$out" || fail "purge failed"
grep -q "^after purge: ls: cannot access '/var/lib/sightline'" "$out" || fail "purge left the store: $(grep '^after purge' "$out")"
echo "package vm ok"
