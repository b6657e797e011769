// Per-CPU direct-mapped slots in front of a hash, where a hot path's counts go first (an array
// lookup and plain adds, where the hash's costs a hashed lookup and, shared, atomic adds):
// net's socket traffic (bpf/sock_traffic.bpf.h, sightline/net.h sl_sock_slot) and l7's RED
// counts (bpf/l7.bpf.c, sightline/l7.h sl_l7_red_slot). Sized before the programs load, mapped
// to be read and freed by DeltaTotals::read_slots.
#pragma once

#include <bpf/libbpf.h>
#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "bpf/libbpf_util.h"
#include "core/status.h"

namespace sightline::sources {

// Every possible CPU's `per_cpu` slots where `counting`; else one plain entry (no memory
// mapping, which kernels before 5.5 cannot make).
inline void size_cpu_slots(bpf_map* m, size_t per_cpu, bool counting) {
  if (counting) {
    bpf_map__set_max_entries(m, static_cast<uint32_t>(bpf::possible_cpus() * per_cpu));
  } else {
    bpf_map__set_max_entries(m, 1);
    bpf_map__set_map_flags(m, 0);
  }
}

// The slots of a map sized by size_cpu_slots(…, per_cpu, true), mapped read-write.
template <class Slot>
class CpuSlots {
 public:
  CpuSlots() = default;
  CpuSlots(const CpuSlots&) = delete;
  CpuSlots& operator=(const CpuSlots&) = delete;
  ~CpuSlots() { unmap(); }

  // `what` names them in an error.
  core::Status map(int fd, size_t per_cpu, const char* what) {
    unmap();
    n_ = bpf::possible_cpus() * per_cpu;
    bytes_ = (n_ * sizeof(Slot) + 4095) & ~size_t(4095);
    void* p = mmap(nullptr, bytes_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      n_ = 0;
      return core::Status::error(errno, std::string("mapping ") + what + ": " + strerror(errno));
    }
    slots_ = static_cast<Slot*>(p);
    return {};
  }
  void unmap() {
    if (slots_) munmap(slots_, bytes_);
    slots_ = nullptr;
    n_ = 0;
  }
  Slot* slots() const { return slots_; }
  size_t size() const { return n_; }

 private:
  Slot* slots_ = nullptr;
  size_t n_ = 0, bytes_ = 0;
};

}  // namespace sightline::sources
