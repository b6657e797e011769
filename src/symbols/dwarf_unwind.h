// User stacks of code built without frame pointers: unwound here from a copy of the top of the
// user stack and the registers taken in BPF, with the .eh_frame/.debug_frame CFI of the mapped
// files (libdw), as `perf --call-graph dwarf` does. One Dwfl per process, reused across
// samples (the CFI stays parsed); rebuilt when the process maps new code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <list>
#include <unordered_map>
#include <vector>

struct Dwfl;

namespace sightline::symbols {

struct UserRegs {
  uint64_t ip = 0, sp = 0, bp = 0;
};

class DwarfUnwinder {
 public:
  static constexpr size_t kMaxProcesses = 256;  // Dwfl handles kept (least recently used go)
  static constexpr size_t kMaxFrames = 127;

  DwarfUnwinder() = default;
  DwarfUnwinder(const DwarfUnwinder&) = delete;
  DwarfUnwinder& operator=(const DwarfUnwinder&) = delete;
  ~DwarfUnwinder();

  // Walks the stack of thread `tid` of process `pid`: `stack` holds the memory from
  // `stack_base` up (the sample's sp lies inside it). Program counters leaf first; the first
  // is regs.ip. False when the process cannot be read (gone); ips then holds regs.ip alone.
  bool unwind(uint32_t pid, uint32_t tid, const UserRegs& regs, uint64_t stack_base,
              const uint8_t* stack, size_t len, std::vector<uint64_t>* ips);
  void forget(uint32_t pid);
  // Closes every process's Dwfl (memory pressure); returns how many were open.
  size_t release_all();

 private:
  struct Proc {
    Dwfl* dwfl = nullptr;
    std::list<uint32_t>::iterator lru;
  };
  Dwfl* open(uint32_t pid);
  void close(Proc& p);

  std::unordered_map<uint32_t, Proc> procs_;
  std::list<uint32_t> lru_;

 public:  // the sample being unwound, for libdw's callbacks
  struct Current {
    const UserRegs* regs = nullptr;
    uint64_t base = 0;
    const uint8_t* stack = nullptr;
    size_t len = 0;
  } current_;
};

}  // namespace sightline::symbols
