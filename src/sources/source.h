// A source is a plug: one BPF object, its decoder, its counters. The agent, `trace` and the
// tests all start sources through this interface and the registry; a source never knows who
// consumes its events.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bpf/errors.h"
#include "bpf/features.h"
#include "bpf/libbpf_util.h"
#include "core/event.h"
#include "core/metrics.h"
#include "core/status.h"
#include "sources/options.h"

namespace sightline::sources {

// Applied in the kernel (rodata, set before load).
struct Filter {
  uint32_t pid = 0;           // only this process (tgid)
  std::string comm;           // only tasks with this name (exact, at most 15 bytes)
  uint64_t cgroup_id = 0;     // only this cgroup v2 id
  bool failed_only = false;   // only failures (failed exec/open, non-zero exits)
  bool exclude_self = true;   // never the sightline process itself
};

// What every source takes: the common part here, the source's own knobs in `own` (a struct its
// header declares, e.g. L7Options). The callbacks are the runner's services to every source.
struct SourceOptions {
  Filter filter;
  std::vector<core::EventKind> kinds;  // empty: every kind the source has
  uint32_t ring_bytes = 0;             // 0: the source's default; power of two, >= 4 KiB
  // Use the portable fallback even where a newer, cheaper hook exists: enter/exit pairing for
  // file, classic TC (clsact) instead of tcx links for packets. For tests of the fallback path
  // and comparisons in bench/.
  bool force_fallback_hooks = false;
  // Bytes the source's user-space caches may hold (the agent's memory_limit share; 0: the
  // source's default). Today: the profiler's symbol tables and DWARF.
  uint64_t cache_bytes = 0;
  // Bytes the source's per-connection state may hold (memory_limit's share; 0: the source's
  // default). Today: the l7 parsers' connections, their buffers and pending requests.
  uint64_t state_bytes = 0;
  // CPU the source's background work may take on average, in CPUs (the overhead budget's
  // share; 0: unpaced). Today: building the profiler's unwind tables.
  double background_cpus = 0;
  // The source's own options; `own_as<L7Options>()` gives them (with their defaults if unset).
  OwnHolder own;
  template <class T>
  T& own_as() { return own.as<T>(); }
  template <class T>
  const T& own_as() const { return own.as<T>(); }
  // Name of a process for metric labels (the runner's process table); empty if unknown.
  std::function<std::string(uint32_t pid)> process_name;
  // False while a process's name may be about to change: forked under a second ago, alive, not
  // exec'd yet (its exec may be in flight). Aggregations name such a key at their next read.
  std::function<bool(uint32_t pid)> process_settled;
  // A cgroup v2 id's path ("/system.slice/x.service") and container id; empty if unknown.
  std::function<std::pair<std::string, std::string>(uint64_t cgroup_id)> cgroup_info;
  // An address a DNS answer gave for a name (the runner names remote addresses with them).
  std::function<void(std::string_view address, std::string_view name)> learn_dns;
  // A uprobe perf event (the open file `file_fd`, a file offset), opened by the agent's privileged
  // helper once the agent itself has dropped what opening one needs (CAP_SYS_ADMIN): the event's
  // fd, or -errno. Unset: a source attaches only while it may itself (l7: Go binaries that start
  // later).
  std::function<int(int file_fd, uint64_t offset)> open_uprobe;
  // One program per hook where two sources need the same one: net's per-process socket traffic
  // (bpf/sock_traffic.bpf.h) counted by l7's socket programs, which run on every socket I/O
  // anyway. l7: count it (the agent sets it when net runs too; l7 then offers the map as
  // shared_map_fd("sock_traffic") and its slots' shared_map_fd("sock_slots")). net: those maps'
  // fds, or -1 to count with programs of its own.
  bool count_sock_traffic = false;
  int sock_traffic_fd = -1, sock_slots_fd = -1;
  // l7 and profile: the sched source's per-thread time map (its shared_map_fd("thread_time")),
  // read at server requests' boundaries for their timelines (l7, which marks the thread serving)
  // and by the profiler for per-request stacks; -1: neither.
  int thread_time_fd = -1;
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  // Called on the polling thread for every decoded event; views in `e` die on return.
  virtual void on_event(core::Event& e) = 0;
};

struct Hook {
  std::string program;  // BPF program name
  std::string attach;   // e.g. "tracepoint syscalls/sys_enter_openat", "tp_btf sched_process_fork"
  bool enabled = false;
  std::string note;     // why not, when not
};

struct SourceStats {
  uint64_t events = 0;         // decoded and delivered
  uint64_t lost_ringbuf = 0;   // ring buffer full in the kernel
  uint64_t lost_pairing = 0;   // enter/exit pairing map full
  uint64_t unpaired = 0;       // exit seen without its enter
  uint64_t decode_errors = 0;  // records too short or of an unknown kind
  uint64_t map_full = 0;       // aggregation map full: updates not counted
};

class Source {
 public:
  virtual ~Source() = default;
  virtual std::string_view name() const = 0;
  // Which hooks this kernel gives the source; a source with no enabled hook cannot run.
  virtual std::vector<Hook> plan(const bpf::Features& f, const SourceOptions& opts) const = 0;
  virtual core::Status start(const SourceOptions& opts, const bpf::Features& f,
                             EventSink* sink) = 0;
  virtual int epoll_fd() const = 0;  // readable on a forced wakeup
  virtual int consume() = 0;         // delivers every waiting record; count or -errno
  // Reads in-kernel aggregations into metric families (called on the polling thread, on the
  // collection interval). Streaming-only sources have none.
  virtual void collect(std::vector<core::MetricFamily>& out) { (void)out; }
  virtual SourceStats stats() const = 0;
  virtual std::vector<bpf::ProgramStats> program_stats() const = 0;
  // Capabilities (bits, 1 << CAP_*) the source needs after start to detach at stop: what the
  // agent keeps when it drops the rest. Hooks held by fds (links) need none; TC filters that
  // kernels before 6.6 attach by netlink need CAP_NET_ADMIN to be removed.
  virtual uint64_t capabilities_to_stop() const { return 0; }
  // Helper calls that failed in the kernel, by site (bpf/common.bpf.h `sl_errors`).
  virtual std::vector<bpf::HelperError> helper_errors() const { return {}; }
  virtual void stop() = 0;           // detaches and unloads; idempotent
  // Takes the options that can change while running, with no new attachment (needs no
  // privilege: map updates through fds the source holds). Today: security's `syscalls`.
  // Pins the source's maps (not its ring buffer) under `dir` for bpftool and other readers;
  // they are unpinned at stop. The names pinned go to `pinned`.
  virtual core::Status pin_maps(const std::string& dir, std::vector<std::string>* pinned) {
    (void)dir, (void)pinned;
    return core::Status::error(std::string(name()) + ": no maps to pin");
  }
  // The overhead governor's level (0: the configuration as given; higher: less detail; see
  // agent/governor.h). Returns what the source does at it ("" for nothing). Counts the kernel
  // keeps are never shed. Called from the agent's loop, not concurrently with itself.
  virtual std::string shed(int level) {
    (void)level;
    return {};
  }
  // Kernel memory of the source's maps, ring buffers included (sightline_bpf_map_bytes).
  virtual std::vector<bpf::MapMemory> map_memory() const { return {}; }
  // A map this source's programs fill for another source (SourceOptions::count_sock_traffic),
  // by name; -1 when it does not. The other reuses it and reports its memory.
  virtual int shared_map_fd(std::string_view map) const {
    (void)map;
    return -1;
  }
  // Memory pressure (agent/memory.h): level 1 drops what can be rebuilt (caches), level 2 also
  // detail in flight (parser state, windows not yet read). Returns what was dropped, as metric
  // label values ("" for nothing). Called from the agent's loop.
  virtual std::vector<std::string> release_memory(int level) {
    (void)level;
    return {};
  }
  virtual core::Status retune(const SourceOptions& opts) {
    (void)opts;
    return core::Status::error(std::string(name()) + ": nothing to change while running");
  }
};

// A source's registry entry, defined in the source's own .cpp (constant-initialized) and listed
// once in registry.cpp: its name, doc, kinds, which common keys its configuration section has,
// its own options and its factory.
struct SourceInfo {
  std::string_view name;
  std::string_view doc;
  std::span<const core::EventKind> kinds;
  bool streams = false;      // has a ring buffer: `ring_bytes` applies
  bool has_failed = false;   // knows failures: `failed_only` applies
  std::unique_ptr<OwnOptions> (*options)() = nullptr;  // its own options' defaults; none: null
  std::unique_ptr<Source> (*create)() = nullptr;
  // Off unless the configuration enables it: its cost on a busy node is out of proportion to an
  // always-on agent's (README: What it costs). Tools that run it by themselves (`top`) still do.
  bool off_by_default = false;
};

template <class T>
std::unique_ptr<OwnOptions> make_options() { return std::make_unique<T>(); }

std::span<const SourceInfo* const> registry();
const SourceInfo* find_source(std::string_view name);
// The source that produces this kind.
const SourceInfo* source_for_kind(core::EventKind kind);

}  // namespace sightline::sources
