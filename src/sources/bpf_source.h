// What every ring-buffer source shares: the ring, the sink, the counters, the load-time filter.
// A concrete source owns its skeleton and implements plan/start/decode.
#pragma once

#include <bpf/libbpf.h>

#include <algorithm>
#include <atomic>
#include <cstring>

#include "bpf/ring_buffer.h"
#include "sightline/common.h"
#include "sources/source.h"

namespace sightline::sources {

class BpfSource : public Source {
 public:
  int epoll_fd() const override { return rb_.epoll_fd(); }
  int consume() override { return rb_.consume(); }
  SourceStats stats() const override;
  std::vector<bpf::ProgramStats> program_stats() const override;

 protected:
  // Decodes one record and hands it to the sink; false if malformed (counted).
  virtual bool decode(const void* data, size_t size) = 0;
  // After the skeleton is loaded and attached: open the ring and remember the maps.
  core::Status open_ring(bpf_object* obj, EventSink* sink);
  void close_ring();
  bool wants(const SourceOptions& o, core::EventKind k) const {
    return o.kinds.empty() || std::find(o.kinds.begin(), o.kinds.end(), k) != o.kinds.end();
  }
  // Enables or disables a program before load according to the plan.
  static void apply_plan(bpf_object* obj, const std::vector<Hook>& plan);
  static core::Status check_plan(std::string_view source, const std::vector<Hook>& plan);
  static uint32_t ring_size(uint32_t requested, uint32_t dflt);
  // Header fields of every record (sightline/common.h) into the event, clock converted.
  static void decode_header(const struct sl_event_hdr& h, core::Event& e);
  // A hook on a tracepoint, enabled when the kernel has it; `base` is the source's own
  // precondition (empty when met).
  static Hook tracepoint_hook(const bpf::Features& f, const char* program, const char* category,
                              const char* name, bool wanted, const std::string& base);
  // Empty when the kernel has what every ring-buffer source needs (BTF, loading, ring buffer).
  static std::string base_requirements(const bpf::Features& f);
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
  bpf_object* obj_ = nullptr;
  bpf_map* stats_map_ = nullptr;
};

template <class Rodata>
void BpfSource::apply_filter(Rodata* ro, const Filter& f, uint32_t ring_bytes,
                             const bpf::Features& features) {
  ro->has_task_btf = features.task_pt_regs;
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
