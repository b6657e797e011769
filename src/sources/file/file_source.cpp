// file source: open-family syscalls, mounts, stat-family syscalls (bpf/file.bpf.c, sightline/file.h).
#include "sources/file/file_source.h"

#include "bpf/libbpf_util.h"
#include "sightline/file.h"
#include "sources/bpf_source.h"
#include "sources/decode.h"

// The skeleton names the ABI types of sightline/*.h: it comes after them.
#include "file.skel.h"

namespace sightline::sources {
namespace {

// 8 MiB holds ~24k opens: 60 ms of the fastest open loop this machine runs (~400k/s), while
// forced wakeups start once an eighth of it waits: no loss at full loop speed.
constexpr uint32_t kDefaultRingBytes = 8 << 20;

struct OpenHook {
  const char* enter;
  const char* exit;
  const char* regs_exit;  // exit alone, arguments from the saved registers
  const char* tp;
  core::EventKind kind;
};
constexpr OpenHook kHooks[] = {
    {"sl_enter_open", "sl_exit_open", "sl_rexit_open", "open", core::EventKind::kOpen},
    {"sl_enter_openat", "sl_exit_openat", "sl_rexit_openat", "openat", core::EventKind::kOpen},
    {"sl_enter_openat2", "sl_exit_openat2", "sl_rexit_openat2", "openat2", core::EventKind::kOpen},
    {"sl_enter_creat", "sl_exit_creat", "sl_rexit_creat", "creat", core::EventKind::kOpen},
    {"sl_enter_stat", "sl_exit_stat", "sl_rexit_stat", "newstat", core::EventKind::kStat},
    {"sl_enter_lstat", "sl_exit_lstat", "sl_rexit_lstat", "newlstat", core::EventKind::kStat},
    {"sl_enter_fstatat", "sl_exit_fstatat", "sl_rexit_fstatat", "newfstatat", core::EventKind::kStat},
    {"sl_enter_statx", "sl_exit_statx", "sl_rexit_statx", "statx", core::EventKind::kStat},
    {"sl_enter_statfs", "sl_exit_statfs", "sl_rexit_statfs", "statfs", core::EventKind::kStat},
};

constexpr SkeletonFns<file_bpf> kFns = {&file_bpf__open, &file_bpf__load, &file_bpf__attach,
                                        &file_bpf__destroy};

class FileSource final : public SkeletonSource<file_bpf, kFns, kDefaultRingBytes> {
 public:

  std::string_view name() const override { return "file"; }

  std::vector<Hook> plan(const bpf::Features& f, const SourceOptions& o) const override {
    std::string base = base_requirements(f);
    bool opens = wants(o, core::EventKind::kOpen);
    bool stats = o.kinds.empty() ? o.own_as<FileOptions>().stats : wants(o, core::EventKind::kStat);
    std::vector<Hook> p;
    bool regs = f.task_pt_regs && !o.force_fallback_hooks;
    for (const auto& h : kHooks) {
      bool open = h.kind == core::EventKind::kOpen ? opens : stats;
      std::string exit_tp = std::string("sys_exit_") + h.tp;
      Hook rexit = tracepoint_hook(f, h.regs_exit, "syscalls", exit_tp.c_str(), open && regs, base);
      rexit.attach += " (arguments from registers)";
      Hook in = tracepoint_hook(f, h.enter, "syscalls", (std::string("sys_enter_") + h.tp).c_str(),
                                open && !regs, base);
      Hook out = tracepoint_hook(f, h.exit, "syscalls", exit_tp.c_str(), open && !regs, base);
      if (in.enabled != out.enabled) {  // a pair or nothing (open() is absent on arm64)
        in.enabled = out.enabled = false;
        in.note = out.note = "needs both sys_enter and sys_exit tracepoints";
      }
      if (open && regs) in.note = out.note = "registers preferred (one program, no map)";
      if (open && !regs && !o.force_fallback_hooks)
        rexit.note = "no bpf_task_pt_regs (kernel older than 5.15)";
      p.push_back(rexit);
      p.push_back(in);
      p.push_back(out);
    }
    // mount and umount2: enter and exit on every kernel (rare calls: the pairing map costs
    // nothing worth a second path).
    bool mounts = wants(o, core::EventKind::kMount);
    for (const char* call : {"mount", "umount"}) {
      std::string enter = std::string("sl_enter_") + call, exit = std::string("sl_exit_") + call;
      Hook in = tracepoint_hook(f, enter.c_str(), "syscalls", ("sys_enter_" + std::string(call)).c_str(), mounts, base);
      Hook out = tracepoint_hook(f, exit.c_str(), "syscalls", ("sys_exit_" + std::string(call)).c_str(), mounts, base);
      if (in.enabled != out.enabled) {
        in.enabled = out.enabled = false;
        in.note = out.note = "needs both sys_enter and sys_exit tracepoints";
      }
      p.push_back(in);
      p.push_back(out);
    }
    // Slow I/O: an enter and exit pair per syscall (the start must be kept in any case).
    bool slow = o.kinds.empty() ? o.own_as<FileOptions>().slow_io : wants(o, core::EventKind::kSlowIo);
    for (const char* call : {"read", "write", "pread64", "pwrite64", "readv", "writev", "fsync", "fdatasync"}) {
      std::string enter = std::string("sl_enter_") + call, exit = std::string("sl_exit_") + call;
      Hook in = tracepoint_hook(f, enter.c_str(), "syscalls", ("sys_enter_" + std::string(call)).c_str(), slow, base);
      Hook out = tracepoint_hook(f, exit.c_str(), "syscalls", ("sys_exit_" + std::string(call)).c_str(), slow, base);
      if (in.enabled != out.enabled) {
        in.enabled = out.enabled = false;
        in.note = out.note = "needs both sys_enter and sys_exit tracepoints";
      }
      p.push_back(in);
      p.push_back(out);
    }
    // Short-lived files: ext4's inode allocation and unlink, the unlink syscalls for the path.
    bool life = o.kinds.empty() ? o.own_as<FileOptions>().lifetimes : wants(o, core::EventKind::kFileLifetime);
    std::vector<Hook> lh = {tracepoint_hook(f, "sl_ext4_alloc", "ext4", "ext4_allocate_inode", life, base),
                            tracepoint_hook(f, "sl_ext4_unlink", "ext4", "ext4_unlink_enter", life, base)};
    for (const char* call : {"unlink", "unlinkat"}) {
      lh.push_back(tracepoint_hook(f, (std::string("sl_enter_") + call).c_str(), "syscalls",
                                   ("sys_enter_" + std::string(call)).c_str(), life, base));
      lh.push_back(tracepoint_hook(f, (std::string("sl_exit_") + call).c_str(), "syscalls",
                                   ("sys_exit_" + std::string(call)).c_str(), life, base));
    }
    bool all = true;
    for (const auto& h : lh) all &= h.enabled;
    for (auto& h : lh) {
      if (life && !all) {
        h.enabled = false;
        if (h.note.empty()) h.note = "file_lifetime needs ext4's tracepoints (ext4 not loaded?) and unlink's";
      }
      p.push_back(h);
    }
    return p;
  }

  core::Status start(const SourceOptions& o, const bpf::Features& f, EventSink* sink) override {
    name_of_ = o.process_name;
    uint64_t slow_ns = uint64_t(o.own_as<FileOptions>().slow_io_ms) * 1000000ULL;
    return start_skeleton<file_bpf>(skel_, kFns, o, f, sink, kDefaultRingBytes,
                                    [slow_ns](file_bpf* s) { s->rodata->slow_io_ns = slow_ns; });
  }

 protected:
  bool decode(const void* data, size_t size) override {
    core::Event e;
    if (!decode_file_record(data, size, e)) return false;
    sink_->on_event(e);
    return true;
  }
};

}  // namespace

std::unique_ptr<Source> make_file_source() { return std::make_unique<FileSource>(); }

constexpr core::EventKind kFileKinds[] = {core::EventKind::kOpen, core::EventKind::kStat, core::EventKind::kMount,
                                          core::EventKind::kSlowIo, core::EventKind::kFileLifetime};
constinit const SourceInfo kFileSource = {
    "file",
    "file opens (open, openat, openat2, creat): path, flags, mode, result; mounts and umounts; stat calls and slow "
    "reads, writes and syncs when asked",
    kFileKinds, /*streams=*/true, /*has_failed=*/true,
    &make_options<FileOptions>, &make_file_source};

}  // namespace sightline::sources
