#include "bpf/ring_buffer.h"

#include <bpf/libbpf.h>

#include <cerrno>
#include <string>

#include "bpf/libbpf_util.h"

namespace sightline::bpf {

RingBuffer::~RingBuffer() { close(); }

core::Status RingBuffer::open(const bpf_map* map, Callback cb, void* ctx) {
  close();
  rb_ = ring_buffer__new(bpf_map__fd(map), cb, ctx, nullptr);
  if (!rb_) return libbpf_error(errno, std::string("ring buffer ") + bpf_map__name(map));
  return {};
}

int RingBuffer::consume() { return rb_ ? ring_buffer__consume(rb_) : 0; }
int RingBuffer::epoll_fd() const { return rb_ ? ring_buffer__epoll_fd(rb_) : -1; }

void RingBuffer::close() {
  if (rb_) ring_buffer__free(rb_);
  rb_ = nullptr;
}

}  // namespace sightline::bpf
