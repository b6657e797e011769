// Rules that act in the kernel: `action: kill` compiled into the maps of bpf/enforce.bpf.c
// (sightline/enforce.h has the model: a rule is a bit, its condition a conjunction of dimensions,
// each a set of values it must be in and a set it must not be in).
//
// A rule can act when its condition is, after `not` is pushed inward, an `and` of:
//   evt.type = open | exec (or a field only that kind has: one hook)
//   fd.name      (open)  = in startswith pmatch, or their `not`  the file's full path
//   proc.exepath         = in startswith pmatch, or their `not`  the executable's full path
//   proc.name            = in, or their `not`                    the task's name (15 bytes)
//   user.uid             = in, or their `not` (!= too)
// with `or` allowed between comparisons of one field. Anything else is refused with the reason
// and where it is: a rule is never downgraded to alert-only in silence.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/status.h"
#include "rules/ruleset.h"

namespace sightline::rules {

struct EnforceBits {
  uint64_t pos = 0, neg = 0;
};

struct EnforceDim {
  uint64_t nopos = ~0ULL, constrained = 0;
};

struct EnforcePlan {
  static constexpr size_t kMaxRules = 64;
  enum Hook { kOpen = 0, kExec = 1 };
  struct Acting {
    const Rule* rule = nullptr;
    Hook hook = kOpen;
    std::string summary;  // "kill at open: fd.name, proc.exepath"
  };
  std::vector<Acting> rules;  // bit i: rules[i]
  uint64_t hook_rules[2] = {0, 0};
  uint64_t dry_run = 0;
  EnforceDim path, exe, comm, uid;
  // Trie keys: the bytes of a prefix, or of an exact path and its NUL. Each entry's bits already
  // hold those of every entry that is a prefix of it (the kernel finds only the longest).
  std::map<std::string, EnforceBits> paths, exes;
  std::map<std::string, EnforceBits> comms;  // at most 15 bytes
  std::map<uint32_t, EnforceBits> uids;
};

// Compiles rs.acting(). With `enforce` false every rule only reports what it would do. Errors
// name the rule, its file:line and the column of the part that cannot be evaluated.
core::Status compile_enforcement(const RuleSet& rs, bool enforce, EnforcePlan* out);

}  // namespace sightline::rules
