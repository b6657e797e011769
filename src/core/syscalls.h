// Syscall numbers to names (this architecture's table, generated at build time), signal
// numbers to names, TCP states to names.
#pragma once

#include <cstdint>
#include <string_view>

namespace sightline::core {
// "openat"; "syscall_<nr>" (in a thread-local buffer) for a number the table does not have.
std::string_view syscall_name(uint32_t nr);
// -1 if unknown.
int syscall_number(std::string_view name);
// "SIGKILL"; "SIGRTMIN+3" for real-time ones; "" outside 1..64.
std::string_view signal_name(int sig);
// SIGKILL, KILL or 9 -> 9; -1 if unknown.
int signal_number(std::string_view name);
// TCP states as the kernel numbers them (include/net/tcp_states.h): "established", "syn_sent"
// ...; "unknown" for others.
std::string_view tcp_state_name(uint32_t state);
}  // namespace sightline::core
