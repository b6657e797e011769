#include "bpf/ring_buffer.h"

#include <bpf/libbpf.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
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

core::Status RingBuffer::open(const bpf_map* map, Callback cb, void* ctx, size_t perf_bytes) {
  close();
  cb_ = cb;
  ctx_ = ctx;
  if (bpf_map__type(map) == BPF_MAP_TYPE_PERF_EVENT_ARRAY) return open_perf(map, perf_bytes);
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

core::Status RingBuffer::open_perf(const bpf_map* map, size_t bytes) {
  page_ = static_cast<size_t>(sysconf(_SC_PAGESIZE));
  int ncpu = std::max(libbpf_num_possible_cpus(), 1);
  // Pages per CPU: a power of two (the kernel's rule), at least 2.
  size_t pages = 2;
  while (pages * 2 * page_ * static_cast<size_t>(ncpu) <= bytes) pages *= 2;
  perf_bytes_ = (pages + 1) * page_ * static_cast<size_t>(ncpu);  // + each CPU's header page
  perf_event_attr attr{};
  attr.type = PERF_TYPE_SOFTWARE;
  attr.config = PERF_COUNT_SW_BPF_OUTPUT;
  attr.sample_type = PERF_SAMPLE_RAW;
  attr.sample_period = 1;
  // Woken past an eighth of a CPU's buffer, as the ring buffer's policy (bpf/common.bpf.h); the
  // poll period collects the rest.
  attr.watermark = 1;
  attr.wakeup_watermark = static_cast<uint32_t>(std::max<size_t>(pages * page_ / 8, 512));
  perf_buffer_event_fn fn = [](void* self, int cpu, perf_event_header* ev) {
    return static_cast<bpf_perf_event_ret>(on_perf_event(self, cpu, ev));
  };
  pb_ = perf_buffer__new_raw(bpf_map__fd(map), pages, &attr, fn, this, nullptr);
  if (!pb_) {
    int err = errno;
    pb_ = nullptr;
    return libbpf_error(err, std::string("opening perf buffers ") + bpf_map__name(map));
  }
  return {};
}

int RingBuffer::on_perf_event(void* self_ptr, int, perf_event_header* ev) {
  auto* self = static_cast<RingBuffer*>(self_ptr);
  // A full buffer made bpf_perf_event_output fail, which the kernel side counted; the
  // PERF_RECORD_LOST that follows would count those again.
  if (ev->type != PERF_RECORD_SAMPLE) return LIBBPF_PERF_EVENT_CONT;
  struct Sample {
    perf_event_header header;
    uint32_t size;
    char data[];
  };
  const auto* s = reinterpret_cast<const Sample*>(ev);
  self->aligned_.resize(s->size / 8 + 1);
  memcpy(self->aligned_.data(), s->data, s->size);
  self->cb_(self->ctx_, self->aligned_.data(), s->size);
  self->perf_records_++;
  return LIBBPF_PERF_EVENT_CONT;
}

int RingBuffer::epoll_fd() const { return pb_ ? perf_buffer__epoll_fd(pb_) : map_fd_; }

int RingBuffer::consume() {
  if (pb_) {
    // Again while a pass found records, as the ring's loop rereads the producer: what the
    // callbacks themselves caused (a cgroup file read to enrich an event) is read now too.
    int n = 0;
    for (int pass = 0; pass < 8; pass++) {
      perf_records_ = 0;
      perf_buffer__consume(pb_);
      n += perf_records_;
      if (!perf_records_) break;
    }
    return n;
  }
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
  if (pb_) perf_buffer__free(pb_);
  pb_ = nullptr;
  perf_bytes_ = 0;
  if (producer_) munmap(producer_, page_ + 2 * (mask_ + 1));
  if (consumer_) munmap(consumer_, page_);
  producer_ = consumer_ = nullptr;
  map_fd_ = -1;
}

}  // namespace sightline::bpf
