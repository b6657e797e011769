// security source: security-relevant syscalls as `syscall` events (ptrace, bpf, mount,
// namespaces, privilege changes, chmod, unlink, rename, memfd_create ...), for rules.
#pragma once
#include <memory>

#include "sources/source.h"

namespace sightline::sources {
struct SecurityOptions : Options<SecurityOptions> {
  // Only these syscalls send events (names; nullopt: every one the source knows). With
  // attach_all_syscalls the others are attached too, but off in the kernel, so that retune()
  // can turn them on after the agent has dropped the capabilities attaching needs. The agent
  // sets them from the rules (the syscalls their conditions name).
  std::optional<std::vector<std::string>> syscalls;
  bool attach_all_syscalls = false;
};

std::unique_ptr<Source> make_security_source();
// The syscalls it can report (syscall.name values).
std::vector<std::string> security_syscall_names();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kSecuritySource;
}
