// What this kernel and this process can do, probed once at start. Sources choose their hooks
// from it (tp_btf -> raw_tp -> tracepoint ...), and `sightline doctor` prints it.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace sightline::bpf {

struct Feature {
  std::string name;
  bool ok = false;
  std::string detail;  // why not, or which variant
};

struct Features {
  std::string kernel_release;
  bool root = false;
  bool cap_bpf = false, cap_perfmon = false, cap_sys_admin = false;
  bool btf = false;           // /sys/kernel/btf/vmlinux: CO-RE possible
  std::string tracefs;        // events root (…/tracing/events) or empty
  bool tracefs_mounted_by_us = false;
  bool can_load = false;      // a trivial program loaded: privileges and bpf() are there
  bool ringbuf = false;
  bool tracepoint = false, raw_tp = false, tp_btf = false;
  bool kprobe = false, fentry = false, uprobe = false;
  bool perf_event = false;    // perf_event_open of a software cpu-clock event
  bool prog_perf_event = false, xdp = false, sched_cls = false, cgroup_skb = false;
  bool boot_clock = false;    // bpf_ktime_get_boot_ns
  bool task_pt_regs = false;  // bpf_task_pt_regs + bpf_get_current_task_btf (5.15)
  bool task_storage = false;  // BPF_MAP_TYPE_TASK_STORAGE for tracing programs (5.11)
  // Task storage created from BPF's own per-CPU caches (bpf_mem_alloc, 6.4), not kmalloc: safe
  // to create under the scheduler's locks (sched_switch, sched_wakeup). Before, a kmalloc there
  // whose memory cgroup is at its limit queues work, wakes a worker on the same CPU and spins on
  // the run-queue lock the switch holds: the node freezes (seen on Debian 12's 6.1).
  bool task_storage_any_context = false;
  bool bpf_loop = false;     // bpf_loop (5.17): loops the verifier checks once (l7's RESP walk)
  bool bpf_stats = false;     // BPF_ENABLE_STATS run-time statistics
  bool htab_mem_alloc = false;  // hash map entries allocated on use from any context (6.1)
  bool sched_switch_state = false;  // tp_btf sched_switch passes prev_state (5.18)
  bool bpf_lsm = false;       // BPF LSM programs load and `bpf` is an active LSM (enforcement)
  std::vector<Feature> list;  // the same, with details, in doctor's order

  bool tracepoint_exists(std::string_view category, std::string_view name) const;
  // A function of the kernel image, by its BTF (a kprobe's target; inlined functions have none).
  bool kernel_function(std::string_view name) const;
};

// Mounts tracefs at /sys/kernel/tracing when no tracefs is mounted (libbpf needs it to find
// tracepoint ids). Returns the events directory, or empty.
std::string ensure_tracefs(bool* mounted_by_us = nullptr);

Features probe_features();

}  // namespace sightline::bpf
