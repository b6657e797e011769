// What every ring-buffer source shares: the ring, the sink, the counters, the load-time filter.
// A concrete source owns its skeleton and implements plan/start/decode.
#pragma once

#include <bpf/libbpf.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <functional>

#include "bpf/libbpf_util.h"
#include "bpf/ring_buffer.h"
#include "sightline/common.h"
#include "sources/source.h"

namespace sightline::sources {

// The functions bpftool generates for a skeleton.
template <class Skel>
struct SkeletonFns {
  Skel* (*open)();
  int (*load)(Skel*);
  int (*attach)(Skel*);
  void (*destroy)(Skel*);
};

class BpfSource : public Source {
 public:
  int epoll_fd() const override { return rb_.epoll_fd(); }
  int consume() override { return rb_.consume(); }
  SourceStats stats() const override;
  std::vector<bpf::ProgramStats> program_stats() const override;
  std::vector<bpf::HelperError> helper_errors() const override;
  std::vector<bpf::MapMemory> map_memory() const override;
  core::Status pin_maps(const std::string& dir, std::vector<std::string>* pinned) override;

 protected:
  // Decodes one record and hands it to the sink; false if malformed (counted).
  virtual bool decode(const void* data, size_t size) {
    (void)data, (void)size;
    return false;
  }
  // Plan, open, filter, size the ring, load, attach, read: the whole start of a source.
  // `prepare` sets a source's own rodata between open and load.
  template <class Skel>
  core::Status start_skeleton(Skel*& skel, const SkeletonFns<Skel>& fns, const SourceOptions& o,
                              const bpf::Features& f, EventSink* sink, uint32_t default_ring,
                              const std::function<void(Skel*)>& prepare = {});
  template <class Skel>
  void stop_skeleton(Skel*& skel, const SkeletonFns<Skel>& fns) {
    destroy_links();
    close_ring();
    if (skel) fns.destroy(skel);
    skel = nullptr;
  }
  // A link the source attached itself (uprobes, tracepoints with cookies, perf events): it is
  // destroyed at stop, before the skeleton.
  void keep_link(bpf_link* l) { links_.push_back(l); }
  void destroy_links() {
    for (auto* l : links_) bpf_link__destroy(l);
    links_.clear();
  }
  // After the skeleton is loaded, before it attaches: open the ring and remember the maps.
  core::Status open_ring(bpf_object* obj, EventSink* sink);
  void close_ring();
  bool wants(const SourceOptions& o, core::EventKind k) const {
    return o.kinds.empty() || std::find(o.kinds.begin(), o.kinds.end(), k) != o.kinds.end();
  }
  // Enables or disables a program before load according to the plan.
  static void apply_plan(bpf_object* obj, const std::vector<Hook>& plan);
  // Hash maps take memory as entries come (BPF_F_NO_PREALLOC) where the kernel allocates them
  // safely from any context (bpf_mem_alloc, 6.1+) and no perf_event program (NMI) uses them: a
  // preallocated map charges its whole bound from the start.
  static void allocate_on_use(bpf_object* obj, const bpf::Features& f);
  // Without task local storage and task BTF (before 5.15), or where the kernel allocates task
  // storage with kmalloc (before 6.4: creating it in sched_switch can deadlock the CPU, see
  // Features::task_storage_any_context), every TASK_STORAGE map becomes an LRU hash keyed by
  // thread id (SL_MAX_THREADS, preallocated; the programs take that path, sl_thread_state).
  static void thread_state_maps(bpf_object* obj, const bpf::Features& f);
  static bool has_task_storage(const bpf::Features& f) {
    return f.task_storage && f.task_pt_regs && f.task_storage_any_context;
  }
  static core::Status check_plan(std::string_view source, const std::vector<Hook>& plan);
  static uint32_t ring_size(uint32_t requested, uint32_t dflt);
  // CLOCK_BOOTTIME less CLOCK_MONOTONIC now: the BPF side's boot clock before 5.8.
  static uint64_t boot_minus_mono_ns();
  // A hook on a tracepoint, enabled when the kernel has it; `base` is the source's own
  // precondition (empty when met).
  static Hook tracepoint_hook(const bpf::Features& f, const char* program, const char* category,
                              const char* name, bool wanted, const std::string& base);
  // Empty when the kernel has what every ring-buffer source needs (BTF, loading, ring buffer).
  static std::string base_requirements(const bpf::Features& f);
  // The plan of a source made only of tp_btf programs ({program, raw tracepoint}): all on, or
  // all off with the one reason.
  static std::vector<Hook> tp_btf_plan(
      const bpf::Features& f, std::initializer_list<std::pair<const char*, const char*>> programs);
  // The filters every .bpf.c has (bpf/common.bpf.h), in the skeleton's rodata.
  template <class Rodata>
  static void apply_filter(Rodata* ro, const Filter& f, uint32_t ring_bytes,
                           const bpf::Features& features);

  EventSink* sink_ = nullptr;
  // Written by the polling thread only, read by scrapes: relaxed atomics, plain stores.
  std::atomic<uint64_t> events_{0};
  std::atomic<uint64_t> decode_errors_{0};

 private:
  static int on_record(void* ctx, void* data, size_t size);
  bpf::RingBuffer rb_;
  uint32_t ring_bytes_ = 4 << 20;  // the perf buffers' budget when there is no ring buffer
  std::vector<bpf_link*> links_;
  bpf_object* obj_ = nullptr;
  bpf_map* stats_map_ = nullptr;
  bpf_map* errors_map_ = nullptr;
  std::vector<std::string> pins_;  // removed at close_ring

 protected:
  // SourceOptions::process_settled, kept at start for the sources' DeltaTotals.
  std::function<bool(uint32_t)> process_settled_;
};

// A source whose BPF side is one bpftool skeleton: start, stop and ownership in one place.
template <class Skel, const SkeletonFns<Skel>& Fns, uint32_t DefaultRingBytes>
class SkeletonSource : public BpfSource {
 public:
  ~SkeletonSource() override { stop_skeleton(skel_, Fns); }
  core::Status start(const SourceOptions& o, const bpf::Features& f, EventSink* sink) override {
    name_of_ = o.process_name;
    return start_skeleton(skel_, Fns, o, f, sink, DefaultRingBytes);
  }
  void stop() override { stop_skeleton(skel_, Fns); }

 protected:
  Skel* skel_ = nullptr;
  std::function<std::string(uint32_t)> name_of_;  // process names for metric labels
};

template <class Skel>
core::Status BpfSource::start_skeleton(Skel*& skel, const SkeletonFns<Skel>& fns,
                                       const SourceOptions& o, const bpf::Features& f,
                                       EventSink* sink, uint32_t default_ring,
                                       const std::function<void(Skel*)>& prepare) {
  stop_skeleton(skel, fns);
  auto hooks = plan(f, o);
  if (auto st = check_plan(name(), hooks); !st) return st;
  std::string who(name());
  skel = fns.open();
  if (!skel) return bpf::libbpf_error(errno, who + ": opening the BPF object");
  uint32_t ring = ring_size(o.ring_bytes, default_ring);
  apply_filter(skel->rodata, o.filter, ring, f);
  ring_bytes_ = ring;
  if (bpf_map* events = bpf_object__find_map_by_name(skel->obj, "events")) {
    if (f.ringbuf) {
      bpf_map__set_max_entries(events, ring);
      // The perf path's scratch record is never used: the smallest value.
      if (bpf_map* scratch = bpf_object__find_map_by_name(skel->obj, "sl_scratch"))
        bpf_map__set_value_size(scratch, 8);
    } else {
      // No ring buffer: per-CPU perf buffers (bpf/common.bpf.h, RingBuffer's perf mode).
      bpf_map__set_type(events, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
      bpf_map__set_key_size(events, sizeof(int));
      bpf_map__set_value_size(events, sizeof(int));
      bpf_map__set_max_entries(events, 0);  // libbpf: one per possible CPU
    }
    if constexpr (requires { skel->rodata->use_perfbuf; }) skel->rodata->use_perfbuf = !f.ringbuf;
  }
  process_settled_ = o.process_settled;
  apply_plan(skel->obj, hooks);
  allocate_on_use(skel->obj, f);
  thread_state_maps(skel->obj, f);
  if (prepare) prepare(skel);
  core::Status st;
  // The ring (or the perf buffers) open before the programs attach: none of their first
  // events finds no reader's buffer (a perf event array's slots are filled by opening).
  if (int err = fns.load(skel))
    st = bpf::libbpf_error(err, who + ": loading BPF programs");
  else
    st = open_ring(skel->obj, sink);
  if (st)
    if (int err = fns.attach(skel)) st = bpf::libbpf_error(err, who + ": attaching BPF programs");
  if (!st) stop_skeleton(skel, fns);
  return st;
}

template <class Rodata>
void BpfSource::apply_filter(Rodata* ro, const Filter& f, uint32_t ring_bytes,
                             const bpf::Features& features) {
  ro->has_task_btf = features.task_pt_regs;
  ro->has_task_storage = has_task_storage(features);
  ro->has_switch_state = features.sched_switch_state;
  ro->has_boot_clock = features.boot_clock;
  if (!features.boot_clock) ro->boot_minus_mono_ns = boot_minus_mono_ns();
  ro->targ_failed = f.failed_only;
  ro->targ_tgid = f.pid;
  ro->targ_cgroup_id = f.cgroup_id;
  ro->self_tgid = f.exclude_self ? static_cast<uint32_t>(getpid()) : 0;
  if (!f.comm.empty()) {
    ro->targ_comm_set = true;
    char comm[16] = {};
    memcpy(comm, f.comm.data(), std::min<size_t>(f.comm.size(), 15));
    memcpy(const_cast<char*>(ro->targ_comm), comm, sizeof comm);
  }
  // Wake the reader when about an eighth of the ring waits, counted per CPU: bounded latency
  // under load, no per-event wakeups below it (the reader's poll period collects the rest).
  int ncpu = libbpf_num_possible_cpus();
  ro->wakeup_bytes_per_cpu = std::max<uint64_t>(ring_bytes / 8 / (ncpu > 0 ? ncpu : 1), 512);
}

}  // namespace sightline::sources
