// The acting rules of a rule set (rules/enforce.h) put to work: the enforcement source started on
// a runner when some rule acts, its plan written, and replaced on reloads. Shared by the agent
// and `sightline rules run`.
#pragma once

#include <cstdint>
#include <string>

#include "agent/runner.h"
#include "bpf/features.h"
#include "core/status.h"
#include "rules/ruleset.h"

namespace sightline::sources {
class EnforceSource;
}

namespace sightline::agent {

// Why deny rules cannot act on this kernel (features' bpf_lsm detail), or "".
std::string lsm_note(const bpf::Features& f);

class Enforcement {
 public:
  // Compiles the acting rules; when there are some, starts the enforcement source on `runner`
  // (before the agent drops its capabilities) and writes the plan. `summary` gets one line per
  // acting rule. An error (a rule that cannot act, a kernel without the hooks) stops the start:
  // a rule is never downgraded to alert-only.
  core::Status start(Runner& runner, const rules::RuleSet& rs, bool enforce, std::string* summary);
  // A reload's rules replace the plan (generation + 1). Rules that act where the source did not
  // start (none acted at start) are refused: loading programs needs the capabilities the agent
  // dropped; restart it.
  core::Status reload(const rules::RuleSet& rs, bool enforce, std::string* summary);
  // The generation of the plan in the kernel (Engine::set_rules takes it).
  uint32_t generation() const { return generation_; }

 private:
  sources::EnforceSource* source_ = nullptr;  // owned by the runner
  bool bpf_lsm_ = false;                      // the kernel's, as start() found it
  std::string lsm_note_ = "the agent started with no rule that acts";
  uint32_t generation_ = 0;
};

}  // namespace sightline::agent
