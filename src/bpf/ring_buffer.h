// Reader of a BPF ring buffer, mapped directly (the kernel's ABI: a consumer page, a producer
// page, then the data pages mapped twice). Unlike libbpf 1.1's ring_buffer, it publishes the
// consumer position once per batch rather than once per record: the producer reads that
// position on every reservation, so a per-record write bounces a cache line between the
// traced program's CPU and the reader's on every event.
//
// Without a ring buffer (kernel < 5.8, or SIGHTLINE_DISABLE_FEATURES=ringbuf) the same map is
// a perf event array: one perf buffer per CPU, read through libbpf's perf_buffer with a byte
// watermark for wakeups; each record is copied to an aligned buffer before the callback (perf
// records start 4 bytes into an 8-byte boundary and may wrap).
//
// The kernel wakes the reader only past a fill threshold (BPF_RB_NO_WAKEUP otherwise, see
// bpf/common.bpf.h), so callers poll on a period too: epoll_fd() for forced wakeups, then
// consume() to drain.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/status.h"

struct bpf_map;
struct perf_buffer;
struct perf_event_header;

namespace sightline::bpf {

class RingBuffer {
 public:
  using Callback = int (*)(void* ctx, void* data, size_t size);

  RingBuffer() = default;
  ~RingBuffer();
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;

  // `perf_bytes`: a perf event array's buffers in all (split over the CPUs, whole pages).
  core::Status open(const bpf_map* map, Callback cb, void* ctx, size_t perf_bytes = 4 << 20);
  // Drains every complete record now; returns how many.
  int consume();
  // Readable when the kernel forces a wakeup (the map's own fd, or the perf buffers' epoll
  // fd, for the caller's epoll set).
  int epoll_fd() const;
  bool perf() const { return pb_ != nullptr; }
  // Perf mode: the buffers' bytes in all CPUs (data and header pages), kernel memory that the
  // map's own charge does not count.
  size_t perf_bytes() const { return perf_bytes_; }
  void close();

 private:
  int map_fd_ = -1;
  uint64_t mask_ = 0;
  size_t page_ = 0;
  void* consumer_ = nullptr;  // page 0: consumer position (ours to write)
  void* producer_ = nullptr;  // page 1: producer position, then data twice (read-only)
  Callback cb_ = nullptr;
  void* ctx_ = nullptr;
  perf_buffer* pb_ = nullptr;         // perf mode
  size_t perf_bytes_ = 0;
  std::vector<uint64_t> aligned_;     // perf mode: the record being handed over
  int perf_records_ = 0;              // perf mode: records of the current consume()
  static int on_perf_event(void* self, int cpu, perf_event_header* ev);
  core::Status open_perf(const bpf_map* map, size_t bytes);
};

}  // namespace sightline::bpf
