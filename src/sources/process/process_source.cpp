// process source: exec, fork, exit, signal, oom_kill (bpf/process.bpf.c, sightline/process.h).
#include "sources/process/process_source.h"

#include "bpf/libbpf_util.h"
#include "core/syscalls.h"
#include "sightline/process.h"
#include "sources/bpf_source.h"
#include "sources/decode.h"

// The skeleton names the ABI types of sightline/*.h: it comes after them.
#include "process.skel.h"

namespace sightline::sources {
namespace {

constexpr uint32_t kDefaultRingBytes = 2 << 20;  // ~800 max-size execs between polls

constexpr SkeletonFns<process_bpf> kFns = {&process_bpf__open, &process_bpf__load,
                                           &process_bpf__attach, &process_bpf__destroy};

class ProcessSource final : public SkeletonSource<process_bpf, kFns, kDefaultRingBytes> {
 public:
  std::string_view name() const override { return "process"; }

  std::vector<Hook> plan(const bpf::Features& f, const SourceOptions& o) const override {
    std::string base = base_requirements(f);
    bool exec = wants(o, core::EventKind::kExec), fork = wants(o, core::EventKind::kFork),
         exit = wants(o, core::EventKind::kExit);
    std::vector<Hook> p;
    p.push_back(tracepoint_hook(f, "sl_enter_execve", "syscalls", "sys_enter_execve", exec, base));
    p.push_back(tracepoint_hook(f, "sl_exit_execve", "syscalls", "sys_exit_execve", exec, base));
    p.push_back(
        tracepoint_hook(f, "sl_enter_execveat", "syscalls", "sys_enter_execveat", exec, base));
    p.push_back(
        tracepoint_hook(f, "sl_exit_execveat", "syscalls", "sys_exit_execveat", exec, base));
    p.push_back(tracepoint_hook(f, "sl_sched_exec", "sched", "sched_process_exec", exec, base));
    // An exec pair needs both ends.
    for (size_t i = 0; i + 1 < 4; i += 2) {
      if (p[i].enabled != p[i + 1].enabled) {
        p[i].enabled = p[i + 1].enabled = false;
        p[i].note = p[i + 1].note = "needs both sys_enter and sys_exit tracepoints";
      }
    }
    Hook btf{"sl_fork_btf", "tp_btf sched_process_fork", false, ""};
    Hook raw{"sl_fork_raw", "raw_tp sched_process_fork", false, ""};
    if (!fork) {
      btf.note = raw.note = "not requested";
    } else if (!base.empty()) {
      btf.note = raw.note = base;
    } else if (f.tp_btf) {
      btf.enabled = true;
      raw.note = "tp_btf preferred";
    } else if (f.raw_tp) {
      btf.note = "tp_btf unavailable";
      raw.enabled = true;
    } else {
      btf.note = raw.note = "neither tp_btf nor raw tracepoints";
    }
    p.push_back(btf);
    p.push_back(raw);
    p.push_back(tracepoint_hook(f, "sl_sched_exit", "sched", "sched_process_exit", exit, base));
    p.push_back(tracepoint_hook(f, "sl_signal_generate", "signal", "signal_generate", wants(o, core::EventKind::kSignal),
                                base));
    p.push_back(tracepoint_hook(f, "sl_oom_mark_victim", "oom", "mark_victim", wants(o, core::EventKind::kOomKill), base));
    return p;
  }

  core::Status start(const SourceOptions& o, const bpf::Features& f, EventSink* sink) override {
    name_of_ = o.process_name;
    uint64_t mask = 0;
    if (auto st = signal_mask(o.own_as<ProcessOptions>().ignore_signals, &mask); !st) return st;
    return start_skeleton<process_bpf>(skel_, kFns, o, f, sink, kDefaultRingBytes,
                                       [mask](process_bpf* s) { s->rodata->signal_mask = mask; });
  }

 protected:
  bool decode(const void* data, size_t size) override {
    core::Event e;
    if (!decode_process_record(data, size, e)) return false;
    sink_->on_event(e);
    return true;
  }
};

}  // namespace

std::unique_ptr<Source> make_process_source() { return std::make_unique<ProcessSource>(); }

core::Status signal_mask(const std::vector<std::string>& ignore, uint64_t* mask) {
  *mask = ~0ULL;
  for (const auto& name : ignore) {
    int sig = core::signal_number(name);
    if (sig < 1 || sig > 63)
      return core::Status::error(EINVAL, "sources.process.ignore_signals: '" + name +
                                             "' is not a signal (SIGCHLD, CHLD or 17; real-time SIG34 ... SIG63)");
    *mask &= ~(1ULL << sig);
  }
  return {};
}

constexpr core::EventKind kProcessKinds[] = {core::EventKind::kExec, core::EventKind::kFork, core::EventKind::kExit,
                                             core::EventKind::kSignal, core::EventKind::kOomKill};
constinit const SourceInfo kProcessSource = {
    "process",
    "exec (argv, result), fork, exit (code, signal, lifetime), signals sent (sender, target, result), OOM kills",
    kProcessKinds, /*streams=*/true, /*has_failed=*/true,
    &make_options<ProcessOptions>, &make_process_source};

}  // namespace sightline::sources
