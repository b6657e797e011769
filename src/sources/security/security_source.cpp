// security source (bpf/security.bpf.c, sightline/security.h).
#include "sources/security/security_source.h"

#include <bpf/bpf.h>

#include <algorithm>

#include "bpf/libbpf_util.h"
#include "core/syscalls.h"
#include "sightline/security.h"
#include "sources/bpf_source.h"
#include "sources/decode.h"

// The skeleton names the ABI types of sightline/*.h: it comes after them.
#include "security.skel.h"

namespace sightline::sources {
namespace {

constexpr SkeletonFns<security_bpf> kFns = {&security_bpf__open, &security_bpf__load, &security_bpf__attach,
                                            &security_bpf__destroy};

// The syscalls; which of their arguments are user strings (1-based); which fd to describe
// (argument, or SL_SEC_FD_RET: the result); the filter the kernel applies.
struct SecSyscall {
  const char* name;
  uint8_t str1, str2, fd, filter;
};
constexpr SecSyscall kSyscalls[] = {
    {"ptrace", 0, 0, 0, 0},          {"process_vm_readv", 0, 0, 0, 0}, {"process_vm_writev", 0, 0, 0, 0},
    {"bpf", 0, 0, 0, 0},             {"init_module", 0, 0, 0, 0},      {"finit_module", 0, 0, 0, 0},
    {"delete_module", 1, 0, 0, 0},   {"kexec_load", 0, 0, 0, 0},       {"kexec_file_load", 0, 0, 0, 0},
    {"mount", 1, 2, 0, 0},           {"umount", 1, 0, 0, 0},           {"pivot_root", 1, 2, 0, 0},
    {"chroot", 1, 0, 0, 0},          {"setns", 0, 0, 0, 0},            {"unshare", 0, 0, 0, 0},
    {"setuid", 0, 0, 0, 0},          {"setgid", 0, 0, 0, 0},           {"setreuid", 0, 0, 0, 0},
    {"setregid", 0, 0, 0, 0},        {"setresuid", 0, 0, 0, 0},        {"setresgid", 0, 0, 0, 0},
    {"capset", 0, 0, 0, 0},          {"chmod", 1, 0, 0, 0},            {"fchmod", 0, 0, 0, 0},
    {"fchmodat", 2, 0, 0, 0},        {"chown", 1, 0, 0, 0},            {"lchown", 1, 0, 0, 0},
    {"fchownat", 2, 0, 0, 0},        {"unlink", 1, 0, 0, 0},           {"unlinkat", 2, 0, 0, 0},
    {"rename", 1, 2, 0, 0},          {"renameat", 2, 4, 0, 0},         {"renameat2", 2, 4, 0, 0},
    {"memfd_create", 1, 0, 0, 0},    {"open_by_handle_at", 0, 0, 0, 0}, {"userfaultfd", 0, 0, 0, 0},
    // Frequent ones, filtered in the kernel: only IPv4/IPv6 sockets; a socket made stdin,
    // stdout or stderr (a reverse shell); clones into new namespaces.
    {"connect", 0, 0, 1, SL_SEC_F_INET},
    {"accept", 0, 0, SL_SEC_FD_RET, SL_SEC_F_INET},
    {"accept4", 0, 0, SL_SEC_FD_RET, SL_SEC_F_INET},
    {"bind", 0, 0, 1, SL_SEC_F_BIND},  // bindsnoop: the socket's address once bound, else the one asked
    {"dup", 0, 0, SL_SEC_FD_RET, SL_SEC_F_STDIO_SOCK},
    {"dup2", 0, 0, SL_SEC_FD_RET, SL_SEC_F_STDIO_SOCK},
    {"dup3", 0, 0, SL_SEC_FD_RET, SL_SEC_F_STDIO_SOCK},
    {"clone", 0, 0, 0, SL_SEC_F_CLONE_NS},
    {"clone3", 0, 0, 0, SL_SEC_F_CLONE3_NS},
    // Links (Falco's symlink/hardlink rules): symlink(target, linkpath), symlinkat(target, dirfd,
    // linkpath), link(old, new), linkat(olddirfd, old, newdirfd, new, flags).
    {"symlink", 1, 2, 0, 0},
    {"symlinkat", 1, 3, 0, 0},
    {"link", 1, 2, 0, 0},
    {"linkat", 2, 4, 0, 0},
    // Only AF_PACKET sockets (link-layer sniffing, ARP spoofing); every other domain is dropped in
    // the kernel.
    {"socket", 0, 0, SL_SEC_FD_RET, SL_SEC_F_PACKET},
};
static_assert(std::size(kSyscalls) <= SL_SEC_MAX_SYSCALLS);

}  // namespace

std::vector<std::string> security_syscall_names() {
  std::vector<std::string> out;
  for (const auto& s : kSyscalls) out.push_back(s.name);
  return out;
}

namespace {

bool named(const std::optional<std::vector<std::string>>& names, const char* name) {
  return !names || std::find(names->begin(), names->end(), name) != names->end();
}

class SecuritySource final : public SkeletonSource<security_bpf, kFns, 1 << 20> {
 public:
  std::string_view name() const override { return "security"; }

  // Per syscall: the classic tracepoint sys_exit_<name> with a cookie (5.15+: the cookie and
  // bpf_task_pt_regs); before, one tp_btf sys_exit program that looks the number up.
  static bool per_syscall(const bpf::Features& f) { return f.task_pt_regs; }
  // The number of the syscall behind a sys_exit_<name> tracepoint: tracepoints take the kernel's
  // SYSCALL_DEFINE name, the table the syscall's (umount2 is defined as umount).
  static int number_of(std::string_view tp_name) {
    return core::syscall_number(tp_name == "umount" ? "umount2" : tp_name);
  }

  std::vector<Hook> plan(const bpf::Features& f, const SourceOptions& o) const override {
    std::string base = base_requirements(f);
    if (base.empty() && !per_syscall(f) && !f.tp_btf) base = "needs bpf_task_pt_regs (5.15+) or tp_btf (5.5+)";
    bool wanted = wants(o, core::EventKind::kSyscall);
    std::vector<Hook> hooks;
    for (const auto& s : kSyscalls) {
      bool needed = named(o.own_as<SecurityOptions>().syscalls, s.name);
      bool on = wanted && (needed || o.own_as<SecurityOptions>().attach_all_syscalls);
      Hook h;
      if (per_syscall(f)) {
        std::string tp = std::string("sys_exit_") + s.name;
        h = tracepoint_hook(f, "sl_sec_exit", "syscalls", tp.c_str(), on, base);
      } else {
        int nr = number_of(s.name);
        h = Hook{"sl_sec_sys_exit", std::string("tp_btf sys_exit, number of ") + s.name, false, ""};
        if (!on)
          h.note = "not requested";
        else if (!base.empty())
          h.note = base;
        else if (nr < 0 || nr >= SL_SEC_MAX_NR)
          h.note = "no such syscall on this architecture";
        else
          h.enabled = true;
      }
      if (!needed) h.note = h.enabled ? "attached, off until a rule needs it" : "no rule needs it";
      hooks.push_back(std::move(h));
    }
    return hooks;
  }

  core::Status start(const SourceOptions& o, const bpf::Features& f, EventSink* sink) override {
    auto hooks = plan(f, o);
    if (auto st = start_skeleton(skel_, kFns, o, f, sink, 1 << 20); !st) return st;
    names_.clear();
    table_.clear();
    uint32_t id = 0;
    for (size_t i = 0; i < std::size(kSyscalls); i++) {
      if (!hooks[i].enabled) continue;  // not in this kernel (modules, kexec ...), or not wanted
      if (!per_syscall(f)) {  // the skeleton attached sl_sec_sys_exit; it acts on the numbers set here
        uint32_t nr = static_cast<uint32_t>(number_of(kSyscalls[i].name)), slot = id + 1;
        if (bpf_map_update_elem(bpf_map__fd(skel_->maps.sec_by_nr), &nr, &slot, BPF_ANY)) {
          int err = errno;
          stop();
          return bpf::libbpf_error(err, "security: map sec_by_nr");
        }
      } else {
        bpf_tracepoint_opts opts = {};
        opts.sz = sizeof opts;
        opts.bpf_cookie = id;
        std::string tp = std::string("sys_exit_") + kSyscalls[i].name;
        bpf_link* l = bpf_program__attach_tracepoint_opts(skel_->progs.sl_sec_exit, "syscalls", tp.c_str(), &opts);
        if (!l) {
          int err = errno;
          stop();
          return bpf::libbpf_error(err, "security: attaching to syscalls/" + tp);
        }
        keep_link(l);
      }
      names_.push_back(kSyscalls[i].name);
      table_.push_back(&kSyscalls[i]);
      id++;
    }
    return retune(o);
  }

  // Turns each attached syscall on or off in the kernel.
  core::Status retune(const SourceOptions& o) override {
    if (!skel_) return core::Status::error("security: not running");
    int fd = bpf_map__fd(skel_->maps.sec_conf);
    for (uint32_t id = 0; id < table_.size(); id++) {
      const SecSyscall& s = *table_[id];
      sl_sec_conf c = {};
      c.str1 = s.str1;
      c.str2 = s.str2;
      c.fd = s.fd;
      c.filter = s.filter;
      c.enabled = named(o.own_as<SecurityOptions>().syscalls, s.name);
      if (bpf_map_update_elem(fd, &id, &c, BPF_ANY)) return bpf::libbpf_error(errno, "security: map sec_conf");
    }
    return {};
  }

 protected:
  bool decode(const void* data, size_t size) override {
    core::Event e;
    if (!decode_security_record(data, size, names_, e)) return false;
    sink_->on_event(e);
    return true;
  }

 private:
  std::vector<std::string> names_;      // by cookie
  std::vector<const SecSyscall*> table_;  // by cookie
};

}  // namespace

std::unique_ptr<Source> make_security_source() { return std::make_unique<SecuritySource>(); }

constexpr core::EventKind kSecurityKinds[] = {core::EventKind::kSyscall};
constinit const SourceInfo kSecuritySource = {
    "security",
    "security-relevant syscalls: ptrace, bpf, mount, namespaces, privileges, chmod, unlink, rename ...",
    kSecurityKinds, /*streams=*/true, /*has_failed=*/true,
    &make_options<SecurityOptions>, &make_security_source};

}  // namespace sightline::sources
