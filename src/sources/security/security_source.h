// security source: security-relevant syscalls as `syscall` events (ptrace, bpf, mount,
// namespaces, privilege changes, chmod, unlink, rename, memfd_create ...), for rules.
#pragma once
#include <memory>

#include "sources/source.h"

namespace sightline::sources {
std::unique_ptr<Source> make_security_source();
}
