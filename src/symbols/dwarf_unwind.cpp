#include "symbols/dwarf_unwind.h"

#include <elfutils/libdwfl.h>

#include <cstring>

namespace sightline::symbols {
namespace {

const Dwfl_Callbacks kCallbacks = {
    .find_elf = dwfl_linux_proc_find_elf,
    .find_debuginfo = dwfl_standard_find_debuginfo,
    .section_address = nullptr,
    .debuginfo_path = nullptr,
};

pid_t next_thread(Dwfl*, void*, void** thread_argp) {
  // Only dwfl_getthread_frames is used, which asks get_thread; nothing to enumerate.
  (void)thread_argp;
  return 0;
}

bool get_thread(Dwfl*, pid_t, void* dwfl_arg, void** thread_argp) {
  *thread_argp = dwfl_arg;
  return true;
}

bool memory_read(Dwfl*, Dwarf_Addr addr, Dwarf_Word* result, void* arg) {
  auto* c = &static_cast<DwarfUnwinder*>(arg)->current_;
  if (addr < c->base || addr + sizeof(Dwarf_Word) > c->base + c->len) return false;
  memcpy(result, c->stack + (addr - c->base), sizeof(Dwarf_Word));
  return true;
}

bool set_initial_registers(Dwfl_Thread* thread, void* arg) {
  auto* c = &static_cast<DwarfUnwinder*>(arg)->current_;
#if defined(__x86_64__)
  // DWARF numbering on x86_64: 6 rbp, 7 rsp, 16 rip.
  Dwarf_Word bp_sp[2] = {c->regs->bp, c->regs->sp};
  if (!dwfl_thread_state_registers(thread, 6, 2, bp_sp)) return false;
  dwfl_thread_state_register_pc(thread, c->regs->ip);
  return true;
#else
  (void)thread, (void)c;
  return false;
#endif
}

const Dwfl_Thread_Callbacks kThreadCallbacks = {
    .next_thread = next_thread,
    .get_thread = get_thread,
    .memory_read = memory_read,
    .set_initial_registers = set_initial_registers,
    .detach = nullptr,
    .thread_detach = nullptr,
};

struct Walk {
  std::vector<uint64_t>* ips;
};

int on_frame(Dwfl_Frame* state, void* arg) {
  auto* w = static_cast<Walk*>(arg);
  Dwarf_Addr pc;
  bool activation = false;
  if (!dwfl_frame_pc(state, &pc, &activation)) return DWARF_CB_ABORT;
  // A return address points after its call: name the call (perf does the same).
  if (!w->ips->empty() && !activation && pc) pc -= 1;
  w->ips->push_back(pc);
  return w->ips->size() >= DwarfUnwinder::kMaxFrames ? DWARF_CB_ABORT : DWARF_CB_OK;
}

}  // namespace

DwarfUnwinder::~DwarfUnwinder() {
  for (auto& [pid, p] : procs_) close(p);
}

void DwarfUnwinder::close(Proc& p) {
  if (p.dwfl) dwfl_end(p.dwfl);
  p.dwfl = nullptr;
}

void DwarfUnwinder::forget(uint32_t pid) {
  auto it = procs_.find(pid);
  if (it == procs_.end()) return;
  close(it->second);
  lru_.erase(it->second.lru);
  procs_.erase(it);
}

size_t DwarfUnwinder::release_all() {
  size_t n = procs_.size();
  for (auto& [pid, p] : procs_) close(p);
  procs_.clear();
  lru_.clear();
  return n;
}

Dwfl* DwarfUnwinder::open(uint32_t pid) {
  auto it = procs_.find(pid);
  if (it != procs_.end()) {
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return it->second.dwfl;
  }
  Dwfl* d = dwfl_begin(&kCallbacks);
  if (!d) return nullptr;
  if (dwfl_linux_proc_report(d, static_cast<pid_t>(pid)) != 0 || dwfl_report_end(d, nullptr, nullptr) != 0 ||
      !dwfl_attach_state(d, nullptr, static_cast<pid_t>(pid), &kThreadCallbacks, this)) {
    dwfl_end(d);
    return nullptr;
  }
  if (procs_.size() >= kMaxProcesses) forget(lru_.back());
  lru_.push_front(pid);
  procs_[pid] = Proc{d, lru_.begin()};
  return d;
}

bool DwarfUnwinder::unwind(uint32_t pid, uint32_t tid, const UserRegs& regs, uint64_t stack_base,
                           const uint8_t* stack, size_t len, std::vector<uint64_t>* ips) {
  ips->clear();
  Dwfl* d = open(pid);
  if (d && !dwfl_addrmodule(d, regs.ip)) {  // new code mapped since (dlopen, JIT): report again
    forget(pid);
    d = open(pid);
  }
  if (!d) {
    ips->push_back(regs.ip);
    return false;
  }
  current_ = {&regs, stack_base, stack, len};
  Walk w{ips};
  dwfl_getthread_frames(d, static_cast<pid_t>(tid), on_frame, &w);
  current_ = {};
  if (ips->empty()) ips->push_back(regs.ip);
  return true;
}

}  // namespace sightline::symbols
