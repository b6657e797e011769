// The per-CPU slots in front of the socket traffic hash (bpf/sock_traffic.bpf.h,
// sightline/net.h sl_sock_slot): sized before the programs load, mapped to be read and freed by
// DeltaTotals::read_slots. Counted by l7's socket programs or net's own; read by net.
#pragma once

#include <bpf/libbpf.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "bpf/libbpf_util.h"
#include "core/status.h"
#include "sightline/net.h"

namespace sightline::sources {

// Every possible CPU's slots where `counting`; else one plain entry (no memory mapping, which
// kernels before 5.5 cannot make).
inline void size_sock_slots(bpf_map* m, bool counting) {
  if (counting) {
    bpf_map__set_max_entries(m, static_cast<uint32_t>(bpf::possible_cpus() * SL_NET_SOCK_SLOTS));
  } else {
    bpf_map__set_max_entries(m, 1);
    bpf_map__set_map_flags(m, 0);
  }
}

// The slots of a map sized by size_sock_slots(…, true), mapped read-write.
class SockSlots {
 public:
  SockSlots() = default;
  SockSlots(const SockSlots&) = delete;
  SockSlots& operator=(const SockSlots&) = delete;
  ~SockSlots() { unmap(); }

  core::Status map(int fd) {
    unmap();
    n_ = bpf::possible_cpus() * SL_NET_SOCK_SLOTS;
    bytes_ = (n_ * sizeof(sl_sock_slot) + 4095) & ~size_t(4095);
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      n_ = 0;
      return core::Status::error(errno, std::string("mapping the socket traffic slots: ") + strerror(errno));
    }
    slots_ = static_cast<sl_sock_slot*>(p);
    return {};
  }
  void unmap() {
    if (slots_) munmap(slots_, bytes_);
    slots_ = nullptr;
    n_ = 0;
  }
  sl_sock_slot* slots() const { return slots_; }
  size_t size() const { return n_; }

 private:
  sl_sock_slot* slots_ = nullptr;
  size_t n_ = 0, bytes_ = 0;
};

}  // namespace sightline::sources
