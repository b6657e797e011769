#!/usr/bin/env bash
# Runs a command as root inside Debian's own 6.1 kernel under qemu (TCG: no KVM needed), with
# this machine's root file system shared read-only (9p) under a tmpfs overlay, and returns the
# command's exit code and output. The kernel comes from Debian's package (the generic flavour:
# it has the 9p modules), downloaded and unpacked once into a cache, never installed here.
#   usage: scripts/vmtest.sh [--lsm] [--mem MiB] [--timeout SECONDS] [--idle SECONDS] [--root DIR [--systemd]] -- COMMAND [ARGS...]
#     --timeout  stop the guest after this long (default 600 s) and show where its CPUs are
#     --idle     ... or once its console has been silent this long (without it too: 30 s of
#                silence, or 90 s, after the kernel reported a soft lockup or an RCU stall), so that a
#                frozen guest fails soon, not at its timeout
#     --lsm      boot with lsm=...,bpf (BPF LSM active)
#     --no-lsm   boot with the same LSMs but bpf (BPF LSM off); neither: Debian's default
#     --root DIR share DIR (e.g. a clean Debian root made by mmdebstrap) instead of / ; the
#                command runs in its /
#     --systemd  boot DIR's systemd as init and run the command as a unit once the system is up
#   e.g.   scripts/vmtest.sh -- build/sightline doctor
#          scripts/vmtest.sh --lsm -- sh -c 'cat /sys/kernel/security/lsm'
# The command runs in the current directory (the same path inside); what it writes goes to the
# overlay's tmpfs and is gone when the guest stops.
# Environment: SL_VM_KERNEL_PKG (a linux-image-*-amd64-unsigned package; default: the newest 6.1
# one Debian has), SL_VM_CACHE (default /var/cache/sightline-vm).
set -euo pipefail
lsm=0 mem=2048 timeout=600 idle=0 share=/ systemd=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --lsm) lsm=1; shift ;;
    --no-lsm) lsm=2; shift ;;
    --mem) mem=$2; shift 2 ;;
    --timeout) timeout=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --root) share=$(realpath "$2"); shift 2 ;;
    --systemd) systemd=1; shift ;;
    --) shift; break ;;
    -h|--help) sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "vmtest.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
  esac
done
[[ $# -gt 0 ]] || { echo "vmtest.sh: no command (usage: scripts/vmtest.sh [--lsm] -- COMMAND...)" >&2; exit 2; }
[[ $share == / || -x $share/bin/bash ]] || { echo "vmtest.sh: --root $share: no /bin/bash in it (a Debian root: mmdebstrap bookworm DIR)" >&2; exit 2; }
((systemd == 0)) || [[ -x $share/lib/systemd/systemd ]] || { echo "vmtest.sh: --systemd: $share/lib/systemd/systemd missing (mmdebstrap --include=systemd,systemd-sysv)" >&2; exit 2; }
[[ $(id -u) == 0 ]] || { echo "vmtest.sh: run as root (the guest runs the command as root on this root file system)" >&2; exit 2; }
for tool in qemu-system-x86_64 busybox cpio strings; do
  command -v $tool >/dev/null || { echo "vmtest.sh: $tool missing: apt-get install qemu-system-x86 busybox-static cpio binutils" >&2; exit 2; }
done
busybox_bin=$(command -v busybox)

# The kernel: Debian's package, unpacked once.
cache=${SL_VM_CACHE:-/var/cache/sightline-vm}
pkg=${SL_VM_KERNEL_PKG:-$(apt-cache search --names-only '^linux-image-6\.1\.0-[0-9]+-amd64-unsigned$' 2>/dev/null |
  awk '{print $1}' | sort -V | tail -1)}
[[ -n $pkg ]] || { echo "vmtest.sh: no linux-image-6.1.0-*-amd64-unsigned in apt's lists (apt-get update first)" >&2; exit 2; }
kdir=$cache/$pkg
if [[ ! -f $kdir/ready ]]; then
  echo "vmtest.sh: fetching $pkg (once, into $kdir)" >&2
  rm -rf "$kdir" && mkdir -p "$kdir/dl"
  (cd "$kdir/dl" && apt-get download "$pkg" >/dev/null 2>&1) || { echo "vmtest.sh: apt-get download $pkg failed" >&2; exit 2; }
  dpkg-deb -x "$kdir"/dl/*.deb "$kdir/root"
  rm -rf "$kdir/dl"
  touch "$kdir/ready"
fi
vmlinuz=$(ls "$kdir"/root/boot/vmlinuz-* | head -1)
kver=${vmlinuz##*/vmlinuz-}
moddir=$kdir/root/lib/modules/$kver

# The initramfs: busybox, the modules the shared root needs (with their dependencies, read
# from each module's own depends= field), and an init that runs the command.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ir=$work/root
mkdir -p "$ir"/{bin,proc,sys,dev,host,upper,newroot,mods}
cp "$busybox_bin" "$ir/bin/busybox"
for a in sh mount umount insmod mkdir cat echo poweroff sleep chroot mknod ln switch_root; do ln -sf busybox "$ir/bin/$a"; done
declare -A kopath
while IFS= read -r ko; do
  n=${ko##*/}; n=${n%.ko}; kopath[${n//-/_}]=$ko
done < <(find "$moddir/kernel" -name '*.ko')
order=()
declare -A seen
add_mod() {
  local n=${1//-/_} dep deps
  [[ -n ${seen[$n]:-} ]] && return 0
  seen[$n]=1
  [[ -n ${kopath[$n]:-} ]] || return 0  # built in
  deps=$(strings "${kopath[$n]}" | sed -n 's/^depends=//p' | head -1)
  for dep in ${deps//,/ }; do add_mod "$dep"; done
  order+=("$n")
}
# The shared root (virtio, 9p, overlay) and what a full system would load on demand for the
# agent and its tests (TC's clsact qdisc and BPF classifier, veth pairs): the guest has no modprobe.
for m in virtio_pci 9pnet_virtio 9p overlay sch_ingress cls_bpf veth; do add_mod $m; done
for n in "${order[@]}"; do cp "${kopath[$n]}" "$ir/mods/$n.ko"; done
cwd=$(pwd)
[[ $share == / ]] || cwd=/
cmd=$(printf '%q ' "$@")
cat >"$ir/init" <<INIT
#!/bin/sh
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev
for m in ${order[*]}; do insmod /mods/\$m.ko || echo "vmtest: insmod \$m failed"; done
mount -t 9p -o trans=virtio,version=9p2000.L,ro,msize=262144,cache=loose hostroot /host || { echo "SL_VM_EXIT=125"; poweroff -f; }
mount -t tmpfs -o size=1g upper /upper && mkdir -p /upper/u /upper/w
mount -t overlay -o lowerdir=/host,upperdir=/upper/u,workdir=/upper/w overlay /newroot || { echo "SL_VM_EXIT=125"; poweroff -f; }
mount -t proc proc /newroot/proc; mount -t sysfs sys /newroot/sys; mount -t devtmpfs dev /newroot/dev
mkdir -p /newroot/dev/pts; mount -t devpts devpts /newroot/dev/pts
mount -t tmpfs run /newroot/run
mount -t bpf bpf /newroot/sys/fs/bpf; mount -t tracefs tracefs /newroot/sys/kernel/tracing
mount -t debugfs debugfs /newroot/sys/kernel/debug; mount -t securityfs securityfs /newroot/sys/kernel/security
mount -t cgroup2 cgroup2 /newroot/sys/fs/cgroup
echo "vmtest: kernel \$(cat /proc/sys/kernel/osrelease), lsm \$(cat /newroot/sys/kernel/security/lsm 2>/dev/null)"
cp /cmd.sh /newroot/.vmtest-cmd.sh
if [ $systemd = 1 ]; then
  # systemd as init: the command is a unit of vmtest.target (after multi-user.target), its
  # output on the serial console, the getty there masked; the guest powers off after it.
  cp /vmtest.service /vmtest.target /newroot/etc/systemd/system/
  ln -sf /dev/null /newroot/etc/systemd/system/serial-getty@ttyS0.service
  exec switch_root /newroot /lib/systemd/systemd
fi
chroot /newroot /bin/bash /.vmtest-cmd.sh </dev/null
echo "SL_VM_EXIT=\$?"
poweroff -f
INIT
cat >"$ir/vmtest.target" <<'UNIT'
[Unit]
Description=vmtest: the system with the test command
Requires=multi-user.target vmtest.service
After=multi-user.target vmtest.service
AllowIsolate=yes
UNIT
cat >"$ir/vmtest.service" <<'UNIT'
[Unit]
Description=vmtest: the test command
After=multi-user.target
[Service]
Type=oneshot
StandardInput=null
ExecStart=/bin/sh -c '/bin/bash /.vmtest-cmd.sh >/dev/ttyS0 2>&1; echo "SL_VM_EXIT=$?" >/dev/ttyS0; sync; systemctl poweroff -ff'
UNIT
chmod +x "$ir/init"
# The command as bash reads it (quoted by printf %q), run in the shared root's copy of this
# directory.
printf 'ip link set lo up 2>/dev/null\ncd %q || exit 126\nexport PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root\nexec %s\n' \
  "$cwd" "$cmd" >"$ir/cmd.sh"
(cd "$ir" && find . | cpio -o -H newc 2>/dev/null | gzip -1) >"$work/init.cpio.gz"

# nokaslr: a hung guest's instruction pointers (below) read against System.map as they are.
append="console=ttyS0 panic=-1 quiet loglevel=3 nokaslr"
[[ -z ${SL_VM_CONSOLE:-} ]] || append="console=ttyS0 panic=-1 loglevel=7 systemd.show_status=1 nokaslr"
((systemd == 1)) && append+=" systemd.unit=vmtest.target"
((lsm == 1)) && append+=" lsm=lockdown,capability,landlock,yama,apparmor,bpf"
((lsm == 2)) && append+=" lsm=lockdown,capability,landlock,yama,apparmor"
accel=tcg
[[ -w /dev/kvm ]] && accel=kvm
out=$work/console
mon=$work/monitor
set +e
qemu-system-x86_64 -accel $accel -m "$mem" -smp 2 -nographic -no-reboot \
  -kernel "$vmlinuz" -initrd "$work/init.cpio.gz" -append "$append" \
  -virtfs local,path="$share",mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap \
  -monitor unix:"$mon",server,nowait -nic none </dev/null >"$out" 2>&1 &
qpid=$!
why="after ${timeout}s"
size=0 quiet=0 stalled=0
for ((t = 0; t < timeout * 5; t++)); do
  kill -0 $qpid 2>/dev/null || break
  sleep 0.2
  ((t % 5 == 4)) || continue
  now=$(stat -c %s "$out" 2>/dev/null || echo 0)
  if ((now != size)); then size=$now quiet=0; else quiet=$((quiet + 1)); fi
  ((stalled > 0)) || ! grep -qE 'BUG: soft lockup|detected stall' "$out" 2>/dev/null || stalled=1
  ((stalled == 0)) || stalled=$((stalled + 1))
  # Silent 30 s after the report, or 90 s whatever it prints (the watchdog repeats itself every
  # ~28 s while the CPUs stay stuck: a frozen guest is never silent then).
  if ((stalled > 0 && (quiet >= 30 || stalled > 90))); then
    why="$( ((quiet >= 30)) && echo "silent 30s" || echo "90s") after the kernel reported: $(grep -m1 -oE 'BUG: soft lockup.*|rcu: INFO: .*detected stall.*' "$out" | tr -d '\r')"
    break
  fi
  ((idle == 0 || quiet < idle)) || { why="with its console silent for ${idle}s"; break; }
done
if kill -0 $qpid 2>/dev/null; then
  # A hung guest: where its CPUs are, sampled through qemu's monitor, then named from the
  # kernel's symbols (Debian's System.map is a stub: /proc/kallsyms of a guest booted once for
  # it, cached beside the kernel; nokaslr keeps addresses the same from boot to boot).
  rips=$(for i in $(seq 10); do
    printf 'info registers -a\n' | timeout 5 socat - UNIX-CONNECT:"$mon" 2>/dev/null | tr -d '\r' |
      grep -oE 'RIP=[0-9a-f]+' | cut -d= -f2
    sleep 0.5
  done | sort | uniq -c | sort -rn)
  kill $qpid 2>/dev/null; wait $qpid 2>/dev/null
  syms=$kdir/kallsyms
  if [[ ! -s $syms && -z ${SL_VM_NO_SYMS:-} ]]; then
    SL_VM_NO_SYMS=1 bash "$0" --timeout 120 -- sh -c "grep -E ' [tT] ' /proc/kallsyms | gzip | base64 -w0; echo" 2>/dev/null |
      grep -v '^vmtest' | tail -1 | base64 -d 2>/dev/null | gunzip >"$syms.new" 2>/dev/null && mv "$syms.new" "$syms"
  fi
  echo "vmtest.sh: the guest stopped $why; its CPUs' addresses, sampled 10 times:" >&2
  while read -r n rip; do
    [[ -n $rip ]] || continue
    # Kernel text is at 0xffffffff8xxxxxxx: its low 32 bits compare exactly in gawk's doubles.
    sym=$([[ -s $syms && $rip == ffffffff* ]] && gawk -v a="${rip:8}" 'BEGIN { a = strtonum("0x" a) }
      substr($1, 1, 8) == "ffffffff" { v = strtonum("0x" substr($1, 9)); if (v <= a && v > best) { best = v; name = $3 } }
      END { if (name != "") printf "%s+0x%x", name, a - best }' "$syms")
    echo "vmtest.sh:   $n x $rip ${sym:-(user space or unknown)}" >&2
  done <<<"$rips"
  qrc=124
else
  wait $qpid; qrc=$?
fi
set -e
# SL_VM_CONSOLE=FILE keeps the whole console (firmware, kernel, systemd) for a hung guest.
[[ -z ${SL_VM_CONSOLE:-} ]] || cp "$out" "$SL_VM_CONSOLE"
# What the guest printed from its init on, without the firmware's screen codes and the kernel's
# power-off line.
tr -d '\r' <"$out" | sed -n '/vmtest: kernel/,$p' | sed 's/^.*\(vmtest: kernel\)/\1/' |
  grep -vE '^SL_VM_EXIT=|reboot: Power down' || true
# A colour the command left open (ctest's list of skipped tests) may precede the marker: escapes are stripped.
rc=$(tr -d '\r' <"$out" | sed 's/\x1b\[[0-9;]*m//g' | sed -n 's/^SL_VM_EXIT=\([0-9]*\)$/\1/p' | tail -1)
if [[ -z $rc ]]; then
  echo "vmtest.sh: the guest gave no exit code (qemu exit $qrc$([[ $qrc == 124 ]] && echo ", stopped $why"))" >&2
  exit 124
fi
exit "$rc"
