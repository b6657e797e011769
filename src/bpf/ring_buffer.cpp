#include "bpf/ring_buffer.h"

#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <string>

#include "bpf/libbpf_util.h"

namespace sightline::bpf {
namespace {
// Publish progress at least this often inside a long batch, so a burst being drained does not
// keep the whole ring looking full to the producers.
constexpr uint64_t kPublishEveryBytes = 256 * 1024;

uint64_t load_acquire(const void* p) {
  return std::atomic_ref<const uint64_t>(*static_cast<const uint64_t*>(p)).load(std::memory_order_acquire);
}
}  // namespace

RingBuffer::~RingBuffer() { close(); }

core::Status RingBuffer::open(const bpf_map* map, Callback cb, void* ctx) {
  close();
  map_fd_ = bpf_map__fd(map);
  uint32_t size = bpf_map__max_entries(map);
  page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  mask_ = size - 1;
  cb_ = cb;
  ctx_ = ctx;
  consumer_ = mmap(nullptr, page_, PROT_READ | PROT_WRITE, MAP_SHARED, map_fd_, 0);
  if (consumer_ == MAP_FAILED) {
    consumer_ = nullptr;
    return libbpf_error(errno, std::string("mapping ring buffer ") + bpf_map__name(map));
  }
  producer_ = mmap(nullptr, page_ + 2 * static_cast<size_t>(size), PROT_READ, MAP_SHARED, map_fd_,
                   static_cast<off_t>(page_));
  if (producer_ == MAP_FAILED) {
    producer_ = nullptr;
    int err = errno;
    close();
    return libbpf_error(err, std::string("mapping ring buffer ") + bpf_map__name(map));
  }
  return {};
}

int RingBuffer::consume() {
  if (!consumer_) return 0;
  auto cons_ref = std::atomic_ref<uint64_t>(*static_cast<uint64_t*>(consumer_));
  uint64_t cons = cons_ref.load(std::memory_order_relaxed);
  uint64_t published = cons;
  const char* data = static_cast<const char*>(producer_) + page_;
  int n = 0;
  for (;;) {
    uint64_t prod = load_acquire(producer_);
    if (cons >= prod) break;
    while (cons < prod) {
      const void* hdr = data + (cons & mask_);
      auto len = static_cast<uint32_t>(load_acquire(hdr));  // low 32 bits: length and flags
      if (len & BPF_RINGBUF_BUSY_BIT) goto out;           // reserved, not yet submitted
      uint32_t size = len & ~(BPF_RINGBUF_BUSY_BIT | BPF_RINGBUF_DISCARD_BIT);
      if (!(len & BPF_RINGBUF_DISCARD_BIT)) {
        cb_(ctx_, const_cast<char*>(static_cast<const char*>(hdr)) + BPF_RINGBUF_HDR_SZ, size);
        n++;
      }
      cons += (size + BPF_RINGBUF_HDR_SZ + 7) & ~7ULL;
      if (cons - published >= kPublishEveryBytes) {
        cons_ref.store(cons, std::memory_order_release);
        published = cons;
      }
    }
  }
out:
  if (cons != published) cons_ref.store(cons, std::memory_order_release);
  return n;
}

void RingBuffer::close() {
  if (producer_) munmap(producer_, page_ + 2 * (mask_ + 1));
  if (consumer_) munmap(consumer_, page_);
  producer_ = consumer_ = nullptr;
  map_fd_ = -1;
}

}  // namespace sightline::bpf
