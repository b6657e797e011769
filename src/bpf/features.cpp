#include "bpf/features.h"

#include <bpf/bpf.h>
#include <bpf/btf.h>
#include <bpf/libbpf.h>
#include <linux/perf_event.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <string>

namespace sightline::bpf {
namespace {

bool exists(const std::string& p) { return access(p.c_str(), F_OK) == 0; }

uint64_t cap_eff() {
  std::ifstream in("/proc/self/status");
  for (std::string line; std::getline(in, line);)
    if (line.starts_with("CapEff:")) return std::stoull(line.substr(7), nullptr, 16);
  return 0;
}

// Loads "r0 = 0; exit" as the given tracing program and attaches it; returns 0 or -errno.
int probe_tracing(const struct btf* vmlinux, bpf_attach_type type, const char* btf_name, uint32_t kind) {
  int id = btf__find_by_name_kind(vmlinux, btf_name, kind);
  if (id < 0) return -ENOENT;
  struct bpf_insn insns[2] = {};
  insns[0].code = BPF_ALU64 | BPF_MOV | BPF_K;  // r0 = 0
  insns[1].code = BPF_JMP | BPF_EXIT;
  LIBBPF_OPTS(bpf_prog_load_opts, opts, .expected_attach_type = type,
              .attach_btf_id = static_cast<__u32>(id));
  int fd = bpf_prog_load(BPF_PROG_TYPE_TRACING, "sl_probe", "GPL", insns, 2, &opts);
  if (fd < 0) return -errno;
  int link = bpf_raw_tracepoint_open(nullptr, fd);
  int err = link < 0 ? -errno : 0;
  if (link >= 0) close(link);
  close(fd);
  return err;
}

// Parameters of a tracepoint's BTF prototype (btf_trace_<name>: a typedef of a pointer to a
// function whose first parameter is the context), or -1.
int tp_btf_params(const struct btf* vmlinux, const char* tp) {
  int id = btf__find_by_name_kind(vmlinux, (std::string("btf_trace_") + tp).c_str(), BTF_KIND_TYPEDEF);
  const btf_type* t = id >= 0 ? btf__type_by_id(vmlinux, id) : nullptr;
  if (t) t = btf__type_by_id(vmlinux, t->type);  // the pointer
  if (t && btf_is_ptr(t)) t = btf__type_by_id(vmlinux, t->type);
  return t && btf_is_func_proto(t) ? btf_vlen(t) : -1;
}

bool btf_has(const char* name, uint32_t kind) {
  struct btf* vmlinux = btf__load_vmlinux_btf();
  if (!vmlinux) return false;
  bool has = btf__find_by_name_kind(vmlinux, name, kind) >= 0;
  btf__free(vmlinux);
  return has;
}

// Whether the kernel's struct has the member (by its BTF).
bool btf_has_member(const struct btf* vmlinux, const char* type, const char* member) {
  int id = btf__find_by_name_kind(vmlinux, type, BTF_KIND_STRUCT);
  const btf_type* t = id >= 0 ? btf__type_by_id(vmlinux, id) : nullptr;
  if (!t) return false;
  const btf_member* m = btf_members(t);
  for (int i = 0; i < btf_vlen(t); i++, m++)
    if (strcmp(btf__name_by_offset(vmlinux, m->name_off), member) == 0) return true;
  return false;
}

// Whether the kernel's enum has the value (by its BTF).
bool btf_has_enumerator(const struct btf* vmlinux, const char* type, const char* value) {
  int id = btf__find_by_name_kind(vmlinux, type, BTF_KIND_ENUM);
  const btf_type* t = id >= 0 ? btf__type_by_id(vmlinux, id) : nullptr;
  if (!t) return false;
  const struct btf_enum* e = btf_enum(t);
  for (int i = 0; i < btf_vlen(t); i++, e++)
    if (strcmp(btf__name_by_offset(vmlinux, e->name_off), value) == 0) return true;
  return false;
}

// The short name SIGHTLINE_DISABLE_FEATURES takes for a feature of doctor's list.
std::string feature_key(std::string_view name) {
  static const std::pair<std::string_view, std::string_view> kKeys[] = {
      {"map:hash allocated on use", "htab_mem_alloc"}, {"helper:loop", "bpf_loop"},
      {"prog:sched_cls (tc)", "sched_cls"}, {"perf_event:cpu-clock", "perf_event"},
      {"tracepoint:sched_switch prev_state", "sched_switch_state"},
      {"map:task_storage created in any context", "task_storage_any_context"}};
  for (const auto& [n, k] : kKeys)
    if (n == name) return std::string(k);
  size_t colon = name.rfind(':');
  return std::string(colon == std::string_view::npos ? name : name.substr(colon + 1));
}

std::string errtext(int err) { return err ? strerror(err < 0 ? -err : err) : ""; }

}  // namespace

bool Features::kernel_function(std::string_view name) const {
  return btf && btf_has(std::string(name).c_str(), BTF_KIND_FUNC);
}

bool Features::tracepoint_exists(std::string_view category, std::string_view name) const {
  if (tracefs.empty()) return false;
  return exists(tracefs + "/" + std::string(category) + "/" + std::string(name));
}

std::string ensure_tracefs(bool* mounted_by_us) {
  if (mounted_by_us) *mounted_by_us = false;
  for (const char* p : {"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"})
    if (exists(p)) return p;
  if (mount("nodev", "/sys/kernel/tracing", "tracefs", 0, nullptr) == 0 &&
      exists("/sys/kernel/tracing/events")) {
    if (mounted_by_us) *mounted_by_us = true;
    return "/sys/kernel/tracing/events";
  }
  return {};
}

Features probe_features() {
  Features f;
  struct utsname u;
  if (uname(&u) == 0) f.kernel_release = u.release;
  f.root = geteuid() == 0;
  uint64_t caps = cap_eff();
  f.cap_sys_admin = caps & (1ULL << 21);
  f.cap_perfmon = caps & (1ULL << 38);
  f.cap_bpf = caps & (1ULL << 39);
  // SIGHTLINE_DISABLE_FEATURES=tp_btf,task_pt_regs,...: the probe pretends the kernel lacks
  // them, so the fallback paths run (and are tested) on a kernel that has everything.
  std::set<std::string> disabled;
  if (const char* env = getenv("SIGHTLINE_DISABLE_FEATURES"))
    for (std::string_view rest = env; !rest.empty();) {
      size_t comma = rest.find(',');
      std::string_view one = rest.substr(0, comma);
      if (!one.empty()) disabled.emplace(one);
      rest = comma == std::string_view::npos ? "" : rest.substr(comma + 1);
    }
  auto add = [&](const char* name, bool ok, std::string detail) {
    std::string key = feature_key(name);
    if (ok && disabled.erase(key)) {
      ok = false;
      detail = "disabled by SIGHTLINE_DISABLE_FEATURES";
    }
    f.list.push_back({name, ok, std::move(detail)});
    return ok;
  };

  f.btf = add("btf", exists("/sys/kernel/btf/vmlinux"),
              exists("/sys/kernel/btf/vmlinux") ? "/sys/kernel/btf/vmlinux"
                                                : "no /sys/kernel/btf/vmlinux: kernel built without "
                                                  "CONFIG_DEBUG_INFO_BTF, CO-RE programs cannot load");
  f.tracefs = ensure_tracefs(&f.tracefs_mounted_by_us);
  add("tracefs", !f.tracefs.empty(),
      f.tracefs.empty() ? "not mounted and could not mount it (needs root)"
                        : f.tracefs + (f.tracefs_mounted_by_us ? " (mounted by sightline)" : ""));

  int r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_TRACEPOINT, nullptr);
  f.can_load = r == 1;
  f.tracepoint = add("prog:tracepoint", r == 1, r < 0 ? errtext(r) : "");
  if (!f.can_load) {
    add("load", false,
        r == -EPERM || r == -EACCES
            ? "cannot load BPF programs: run as root, or grant CAP_BPF and CAP_PERFMON"
            : "cannot load BPF programs: " + errtext(r));
  }
  auto prog = [&](const char* name, bpf_prog_type t) {
    int res = libbpf_probe_bpf_prog_type(t, nullptr);
    return add(name, res == 1, res < 0 ? errtext(res) : (res == 0 ? "not supported" : ""));
  };
  f.raw_tp = prog("prog:raw_tracepoint", BPF_PROG_TYPE_RAW_TRACEPOINT);
  f.prog_perf_event = prog("prog:perf_event", BPF_PROG_TYPE_PERF_EVENT);
  f.xdp = prog("prog:xdp", BPF_PROG_TYPE_XDP);
  f.sched_cls = prog("prog:sched_cls (tc)", BPF_PROG_TYPE_SCHED_CLS);
  f.cgroup_skb = prog("prog:cgroup_skb", BPF_PROG_TYPE_CGROUP_SKB);
  r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_RINGBUF, nullptr);
  f.ringbuf = add("map:ringbuf", r == 1, r == 1 ? "" : "kernel < 5.8: events go through per-CPU perf buffers (l7 needs the ring buffer)");
  r = libbpf_probe_bpf_map_type(BPF_MAP_TYPE_TASK_STORAGE, nullptr);
  f.task_storage = add("map:task_storage", r == 1, r == 1 ? "" : "kernel < 5.11");
  r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_ktime_get_boot_ns, nullptr);
  f.boot_clock = add("helper:ktime_get_boot_ns", r == 1, r == 1 ? "" : "kernel < 5.8: the monotonic clock and the boot offset measured at start");
  r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_task_pt_regs, nullptr);
  int r2 = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_get_current_task_btf, nullptr);
  f.task_pt_regs = add("helper:task_pt_regs", r == 1 && r2 == 1,
                       r == 1 && r2 == 1 ? "" : "kernel < 5.15: syscall arguments paired through a map");
  r = libbpf_probe_bpf_helper(BPF_PROG_TYPE_TRACEPOINT, BPF_FUNC_loop, nullptr);
  f.bpf_loop = add("helper:loop", r == 1, r == 1 ? "" : "kernel < 5.17: pipelined Redis writes count as one request");

  // The kernel's BTF, parsed once for the probes below.
  std::unique_ptr<struct btf, void (*)(struct btf*)> vmlinux(f.btf ? btf__load_vmlinux_btf() : nullptr, btf__free);
  if (vmlinux && f.can_load) {
    bool ma = btf__find_by_name_kind(vmlinux.get(), "bpf_mem_alloc", BTF_KIND_STRUCT) >= 0;
    f.htab_mem_alloc = add("map:hash allocated on use", ma, ma ? "" : "kernel < 6.1: hash maps preallocated (their whole bound in memory)");
    bool any = f.task_storage && btf_has_member(vmlinux.get(), "bpf_local_storage_map", "selem_ma");
    f.task_storage_any_context = add("map:task_storage created in any context", any, any ? "" :
        "kernel < 6.4: task storage allocated with kmalloc, unsafe under the scheduler's locks; "
        "per-thread state in an LRU hash by thread id");
    r = probe_tracing(vmlinux.get(), BPF_TRACE_RAW_TP, "btf_trace_sched_switch", BTF_KIND_TYPEDEF);
    f.tp_btf = add("tp_btf", r == 0, r ? "load/attach: " + errtext(r) : "");
    int params = tp_btf_params(vmlinux.get(), "sched_switch");  // ctx, preempt, prev, next[, prev_state]
    f.sched_switch_state = add("tracepoint:sched_switch prev_state", params >= 5,
                               params >= 5 ? "" : "kernel < 5.18: the switched-out task's state read from the task");
    r = probe_tracing(vmlinux.get(), BPF_TRACE_FENTRY, "vfs_read", BTF_KIND_FUNC);
    f.fentry = add("fentry", r == 0, r ? "load/attach: " + errtext(r) : "");
  } else {
    add("tp_btf", false, "needs BTF and privileges");
    add("tracepoint:sched_switch prev_state", false, "needs BTF and privileges");
    add("fentry", false, "needs BTF and privileges");
  }
  bool kp = exists("/sys/bus/event_source/devices/kprobe/type") ||
            (!f.tracefs.empty() && exists(f.tracefs + "/../kprobe_events"));
  f.kprobe = add("kprobe", kp, kp ? "" : "no kprobe PMU or kprobe_events: kernel built without "
                                         "CONFIG_KPROBES/CONFIG_KPROBE_EVENTS (with fentry also absent, "
                                         "nothing here shows page-cache hits (cachestat counts only misses and "
                                         "dirtied pages), "
                                         "slow reads and writes by file (fsslower) or file lifetimes "
                                         "(filelife): no tracepoint carries them)");
  // BPF LSM: the program type exists and `bpf` is among the active LSMs (lsm= on the kernel's
  // command line, or its CONFIG_LSM), read from securityfs (mounted here if it is not).
  if (!exists("/sys/kernel/security/lsm")) (void)mount("securityfs", "/sys/kernel/security", "securityfs", 0, nullptr);
  std::string lsms;
  if (FILE* fp = fopen("/sys/kernel/security/lsm", "r")) {
    char buf[512] = {};
    lsms = fgets(buf, sizeof buf, fp) ? buf : "";
    fclose(fp);
  }
  while (!lsms.empty() && (lsms.back() == '\n' || lsms.back() == ' ')) lsms.pop_back();
  bool lsm_active = ("," + lsms + ",").find(",bpf,") != std::string::npos;
  r = libbpf_probe_bpf_prog_type(BPF_PROG_TYPE_LSM, nullptr);
  f.bpf_lsm = add("bpf_lsm", r == 1 && lsm_active,
                  r != 1       ? "no BPF LSM programs: kernel built without CONFIG_BPF_LSM"
                  : lsms.empty() ? "no /sys/kernel/security/lsm: cannot tell which LSMs are active"
                  : lsm_active   ? "active LSMs: " + lsms
                                 : "built in but not active (" + lsms + "): add bpf to lsm= on the kernel command line");
  bool up = exists("/sys/bus/event_source/devices/uprobe/type");
  f.uprobe = add("uprobe", up, up ? "" : "no uprobe PMU: kernel built without CONFIG_UPROBE_EVENTS");

  struct perf_event_attr attr;
  memset(&attr, 0, sizeof attr);
  attr.size = sizeof attr;
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_CPU_CLOCK;
  attr.sample_freq = 49;
  attr.freq = 1;
  attr.disabled = 1;
  int pfd = static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, 0, -1, 0));
  f.perf_event = add("perf_event:cpu-clock", pfd >= 0, pfd >= 0 ? "" : errtext(errno));
  if (pfd >= 0) close(pfd);

  // Run-time statistics: the command in the kernel's BTF (5.8+) and CAP_SYS_ADMIN. Never switched
  // on to see: each switch patches kernel text (on 6.1 that livelocked under memory pressure), and
  // every command of this binary probes.
  if (vmlinux) {
    bool cmd = btf_has_enumerator(vmlinux.get(), "bpf_cmd", "BPF_ENABLE_STATS");
    f.bpf_stats = add("bpf_stats", cmd && f.cap_sys_admin,
                      !cmd ? "kernel < 5.8: no BPF_ENABLE_STATS" : f.cap_sys_admin ? "" : "needs CAP_SYS_ADMIN");
  } else {
    int sfd = bpf_enable_stats(BPF_STATS_RUN_TIME);
    f.bpf_stats = add("bpf_stats", sfd >= 0, sfd >= 0 ? "" : errtext(errno));
    if (sfd >= 0) close(sfd);
  }
  for (const auto& unknown : disabled)  // named but not probed here (or misspelt)
    f.list.push_back({"disable:" + unknown, false,
                      "SIGHTLINE_DISABLE_FEATURES names no feature '" + unknown +
                          "' (or it is absent anyway): use the names `sightline doctor` lists, after their ':'"});
  return f;
}

}  // namespace sightline::bpf
