// enforcement source (bpf/enforce.bpf.c, sightline/enforce.h).
#include "sources/enforce/enforce_source.h"

#include <bpf/bpf.h>

#include <cstring>

#include "bpf/libbpf_util.h"
#include "sightline/enforce.h"
#include "sources/bpf_source.h"
#include "sources/decode.h"

// The skeleton names the ABI types of sightline/*.h: it comes after them.
#include "enforce.skel.h"

namespace sightline::sources {
namespace {

constexpr SkeletonFns<enforce_bpf> kFns = {&enforce_bpf__open, &enforce_bpf__load,
                                           &enforce_bpf__attach, &enforce_bpf__destroy};

}  // namespace

EnforceSource::~EnforceSource() { stop(); }

std::vector<Hook> EnforceSource::plan(const bpf::Features& f, const SourceOptions&) const {
  std::string base = base_requirements(f);
  std::vector<Hook> hooks;
  for (const char* sys : {"open", "openat", "openat2", "creat"}) {
    std::string prog = std::string("sl_enf_exit_") + sys, tp = std::string("sys_exit_") + sys;
    Hook h = tracepoint_hook(f, prog.c_str(), "syscalls", tp.c_str(), true, base);
    if (!h.enabled && std::string_view(sys) != "openat") h.note += " (that call is not watched)";
    hooks.push_back(std::move(h));
  }
  hooks.push_back(tracepoint_hook(f, "sl_enf_exec", "sched", "sched_process_exec", true, base));
  hooks.push_back(
      tracepoint_hook(f, "sl_enf_enter_connect", "syscalls", "sys_enter_connect", true, base));
  // deny: BPF LSM, where the kernel runs it (compile_enforcement refuses deny rules elsewhere).
  for (const auto& [prog, hook] : {std::pair{"sl_enf_lsm_file_open", "file_open"},
                                   std::pair{"sl_enf_lsm_bprm_check", "bprm_check_security"},
                                   std::pair{"sl_enf_lsm_connect", "socket_connect"}}) {
    Hook h{prog, std::string("lsm ") + hook, false, ""};
    if (!base.empty())
      h.note = base;
    else if (!f.bpf_lsm)
      h.note = "no BPF LSM: deny rules cannot act";
    else
      h.enabled = true;
    hooks.push_back(std::move(h));
  }
  return hooks;
}

core::Status EnforceSource::start(const SourceOptions& o, const bpf::Features& f, EventSink* sink) {
  // openat and exec carry nearly every open and exec: without them the rules cannot act.
  for (const auto& h : plan(f, o))
    if (!h.enabled && (h.program == "sl_enf_exit_openat" || h.program == "sl_enf_exec"))
      return core::Status::error(ENOTSUP, "enforce: " + h.attach + ": " + h.note);
  return start_skeleton(skel_, kFns, o, f, sink, 256 << 10);
}

void EnforceSource::stop() { stop_skeleton(skel_, kFns); }

core::Status EnforceSource::set_plan(const rules::EnforcePlan& p, uint32_t generation) {
  if (!skel_) return core::Status::error("enforce: not running");
  uint32_t zero = 0;
  sl_enf_conf off = {};
  int conf_fd = bpf_map__fd(skel_->maps.enf_conf);
  // Off while the value maps change: a half-written plan never acts.
  if (bpf_map_update_elem(conf_fd, &zero, &off, BPF_ANY))
    return bpf::libbpf_error(errno, "enforce: map enf_conf");
  auto clear = [](bpf_map* m) {
    int fd = bpf_map__fd(m);
    std::vector<char> next(bpf_map__key_size(m));
    while (bpf_map_get_next_key(fd, nullptr, next.data()) == 0)
      bpf_map_delete_elem(fd, next.data());
  };
  for (bpf_map* m :
       {skel_->maps.enf_paths, skel_->maps.enf_exes, skel_->maps.enf_comms, skel_->maps.enf_uids,
        skel_->maps.enf_leaves, skel_->maps.enf_ports, skel_->maps.enf_addrs})
    clear(m);
  auto put = [](bpf_map* m, const void* key, const rules::EnforceBits& b,
                const char* what) -> core::Status {
    sl_enf_bits v = {b.pos, b.neg};
    if (bpf_map_update_elem(bpf_map__fd(m), key, &v, BPF_ANY))
      return bpf::libbpf_error(errno, std::string("enforce: map ") + what);
    return {};
  };
  auto put_paths = [&](bpf_map* m, const std::map<std::string, rules::EnforceBits>& entries,
                       const char* what) -> core::Status {
    for (const auto& [k, b] : entries) {
      sl_enf_path_key key = {};
      size_t n = std::min(k.size(), sizeof key.data);
      memcpy(key.data, k.data(), n);
      key.prefixlen = static_cast<uint32_t>(n * 8);
      if (auto st = put(m, &key, b, what); !st) return st;
    }
    return {};
  };
  if (auto st = put_paths(skel_->maps.enf_paths, p.paths, "enf_paths"); !st) return st;
  if (auto st = put_paths(skel_->maps.enf_exes, p.exes, "enf_exes"); !st) return st;
  for (const auto& [name, b] : p.comms) {
    sl_enf_comm_key key = {};
    memcpy(key.comm, name.data(), std::min(name.size(), sizeof key.comm - 1));
    if (auto st = put(skel_->maps.enf_comms, &key, b, "enf_comms"); !st) return st;
  }
  for (const auto& leaf : p.leaves) {
    sl_enf_leaf_key key = {};
    memcpy(key.name, leaf.data(), std::min(leaf.size(), sizeof key.name - 1));
    uint8_t one = 1;
    if (bpf_map_update_elem(bpf_map__fd(skel_->maps.enf_leaves), &key, &one, BPF_ANY))
      return bpf::libbpf_error(errno, "enforce: map enf_leaves");
  }
  for (const auto& [port, b] : p.ports)
    if (auto st = put(skel_->maps.enf_ports, &port, b, "enf_ports"); !st) return st;
  for (const auto& [net, b] : p.addrs) {
    sl_enf_addr_key key = {};
    key.prefixlen = static_cast<uint32_t>(net.second);
    memcpy(key.addr, net.first.data(), sizeof key.addr);
    if (auto st = put(skel_->maps.enf_addrs, &key, b, "enf_addrs"); !st) return st;
  }
  for (const auto& [uid, b] : p.uids)
    if (auto st = put(skel_->maps.enf_uids, &uid, b, "enf_uids"); !st) return st;
  sl_enf_conf c = {};
  c.hook_rules[SL_ENF_HOOK_OPEN] = p.hook_rules[rules::EnforcePlan::kOpen];
  c.hook_rules[SL_ENF_HOOK_EXEC] = p.hook_rules[rules::EnforcePlan::kExec];
  c.hook_rules[SL_ENF_HOOK_CONNECT] = p.hook_rules[rules::EnforcePlan::kConnect];
  c.dry_run = p.dry_run;
  c.deny = p.deny;
  auto dim = [](const rules::EnforceDim& d) { return sl_enf_dim{d.nopos, d.constrained}; };
  c.path = dim(p.path);
  c.exe = dim(p.exe);
  c.comm = dim(p.comm);
  c.uid = dim(p.uid);
  c.port = dim(p.port);
  c.addr = dim(p.addr);
  c.generation = generation;
  c.leaf_filter = p.leaf_filter;
  if (bpf_map_update_elem(conf_fd, &zero, &c, BPF_ANY))
    return bpf::libbpf_error(errno, "enforce: map enf_conf");
  return {};
}

bool EnforceSource::decode(const void* data, size_t size) {
  core::Event e;
  if (!decode_enforce_record(data, size, e)) return false;
  sink_->on_event(e);
  return true;
}

std::unique_ptr<EnforceSource> make_enforce_source() { return std::make_unique<EnforceSource>(); }

}  // namespace sightline::sources
