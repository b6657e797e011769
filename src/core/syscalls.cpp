#include "core/syscalls.h"

#include <charconv>
#include <cstdio>
#include <cstring>

namespace sightline::core {
namespace {
struct Entry {
  uint32_t nr;
  const char* name;
};
constexpr Entry kTable[] = {
#include "syscall_names.inc"
};
}  // namespace

std::string_view syscall_name(uint32_t nr) {
  // The table is sorted by number in the header; a direct index covers x86-64 and arm64.
  static const auto* by_nr = [] {
    static std::string_view names[1024];
    for (const auto& e : kTable)
      if (e.nr < 1024) names[e.nr] = e.name;
    return names;
  }();
  if (nr < 1024 && !by_nr[nr].empty()) return by_nr[nr];
  thread_local char buf[32] = "syscall_";
  auto r = std::to_chars(buf + 8, buf + sizeof buf - 1, nr);
  return std::string_view(buf, r.ptr - buf);
}

int syscall_number(std::string_view name) {
  for (const auto& e : kTable)
    if (name == e.name) return static_cast<int>(e.nr);
  return -1;
}

}  // namespace sightline::core

namespace sightline::core {
namespace {
// Linux's numbering on x86-64 and arm64 (asm-generic): 1-31; 32-64 are real-time.
constexpr const char* kSignals[32] = {
    "",        "SIGHUP",  "SIGINT",    "SIGQUIT", "SIGILL",    "SIGTRAP", "SIGABRT",  "SIGBUS",
    "SIGFPE",  "SIGKILL", "SIGUSR1",   "SIGSEGV", "SIGUSR2",   "SIGPIPE", "SIGALRM",  "SIGTERM",
    "SIGSTKFLT", "SIGCHLD", "SIGCONT", "SIGSTOP", "SIGTSTP",   "SIGTTIN", "SIGTTOU",  "SIGURG",
    "SIGXCPU", "SIGXFSZ", "SIGVTALRM", "SIGPROF", "SIGWINCH",  "SIGIO",   "SIGPWR",   "SIGSYS"};
}  // namespace

std::string_view signal_name(int sig) {
  if (sig >= 1 && sig < 32) return kSignals[sig];
  if (sig < 32 || sig > 64) return {};
  thread_local char buf[8];
  snprintf(buf, sizeof buf, "SIG%d", sig);  // real-time: glibc's SIGRTMIN is 34, the kernel's 32
  return buf;
}

int signal_number(std::string_view name) {
  int n = 0;
  if (auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), n); ec == std::errc() && p == name.data() + name.size())
    return n >= 1 && n <= 64 ? n : -1;
  if (!name.starts_with("SIG")) {
    for (int i = 1; i < 32; i++)
      if (std::string_view(kSignals[i]).substr(3) == name) return i;
    return -1;
  }
  for (int i = 1; i < 32; i++)
    if (kSignals[i] == name) return i;
  name.remove_prefix(3);
  if (auto [p, ec] = std::from_chars(name.data(), name.data() + name.size(), n); ec == std::errc() && p == name.data() + name.size() && n >= 32 && n <= 64)
    return n;
  return -1;
}

std::string_view tcp_state_name(uint32_t s) {
  static constexpr std::string_view kNames[] = {"unknown",    "established", "syn_sent",    "syn_recv",
                                                "fin_wait1",  "fin_wait2",   "time_wait",   "close",
                                                "close_wait", "last_ack",    "listen",      "closing",
                                                "new_syn_recv", "bound_inactive"};
  return s < std::size(kNames) ? kNames[s] : "unknown";
}

}  // namespace sightline::core
