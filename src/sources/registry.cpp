// The one list of sources. Adding a source: a folder under src/sources/ (its options, its entry
// k<Name>Source), a .bpf.c and its shared header, and one line here.
#include "sources/block/block_source.h"
#include "sources/file/file_source.h"
#include "sources/l7/l7_source.h"
#include "sources/net/net_source.h"
#include "sources/packets/packets_source.h"
#include "sources/process/process_source.h"
#include "sources/profile/profile_source.h"
#include "sources/sched/sched_source.h"
#include "sources/security/security_source.h"
#include "sources/source.h"
#include "sources/syscalls/syscalls_source.h"
#include "sources/tracepoint/tracepoint_source.h"
#include "sources/uprobe/uprobe_source.h"

namespace sightline::sources {
namespace {
// In the order `config default`, `doctor` and the agent use.
constinit const SourceInfo* const kSources[] = {
    &kProcessSource, &kFileSource,    &kNetSource,     &kSecuritySource,
    &kL7Source,      &kSyscallsSource, &kSchedSource,  &kBlockSource,
    &kPacketsSource, &kProfileSource, &kUprobeSource, &kTracepointSource,
};
}  // namespace

std::span<const SourceInfo* const> registry() { return kSources; }

const SourceInfo* find_source(std::string_view name) {
  for (const auto* s : kSources)
    if (s->name == name) return s;
  return nullptr;
}

const SourceInfo* source_for_kind(core::EventKind kind) {
  for (const auto* s : kSources)
    for (auto k : s->kinds)
      if (k == kind) return s;
  return nullptr;
}

}  // namespace sightline::sources
