// RAII over a libbpf ring buffer. The reader is woken by the kernel only past a fill threshold
// (BPF_RB_NO_WAKEUP otherwise, see bpf/common.bpf.h), so callers poll on a period as well:
// poll() waits for a forced wakeup or the timeout, then drains whatever is there.
#pragma once

#include <cstddef>

#include "core/status.h"

struct ring_buffer;
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
  // Drains every record now; returns how many, or -errno.
  int consume();
  int epoll_fd() const;
  void close();

 private:
  ring_buffer* rb_ = nullptr;
};

}  // namespace sightline::bpf
