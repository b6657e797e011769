// Reader of a BPF ring buffer, mapped directly (the kernel's ABI: a consumer page, a producer
// page, then the data pages mapped twice). Unlike libbpf 1.1's ring_buffer, it publishes the
// consumer position once per batch rather than once per record: the producer reads that
// position on every reservation, so a per-record write bounces a cache line between the
// traced program's CPU and the reader's on every event.
//
// The kernel wakes the reader only past a fill threshold (BPF_RB_NO_WAKEUP otherwise, see
// bpf/common.bpf.h), so callers poll on a period too: epoll_fd() for forced wakeups, then
// consume() to drain.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/status.h"

struct bpf_map;

namespace sightline::bpf {

class RingBuffer {
 public:
  using Callback = int (*)(void* ctx, void* data, size_t size);

  RingBuffer() = default;
  ~RingBuffer();
  RingBuffer(const RingBuffer&) = delete;
  RingBuffer& operator=(const RingBuffer&) = delete;

  core::Status open(const bpf_map* map, Callback cb, void* ctx);
  // Drains every complete record now; returns how many.
  int consume();
  // Readable when the kernel forces a wakeup (the map's own fd, for the caller's epoll set).
  int epoll_fd() const { return map_fd_; }
  void close();

 private:
  int map_fd_ = -1;
  uint64_t mask_ = 0;
  size_t page_ = 0;
  void* consumer_ = nullptr;  // page 0: consumer position (ours to write)
  void* producer_ = nullptr;  // page 1: producer position, then data twice (read-only)
  Callback cb_ = nullptr;
  void* ctx_ = nullptr;
};

}  // namespace sightline::bpf
