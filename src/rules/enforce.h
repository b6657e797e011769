// Rules that act in the kernel: `action: kill` and `action: deny` compiled into the maps of
// bpf/enforce.bpf.c
// (sightline/enforce.h has the model: a rule is a bit, its condition a conjunction of dimensions,
// each a set of values it must be in and a set it must not be in).
//
// A rule can act when its condition is, after `not` is pushed inward, an `and` of:
//   evt.type = open | exec (or a field only that kind has: one hook)
//   fd.name      (open)  = in startswith pmatch, or their `not`  the file's full path
//   proc.exepath         = in startswith pmatch, or their `not`  the executable's full path
//   proc.name            = in, or their `not`                    the task's name (15 bytes)
//   user.uid             = in, or their `not` (!= too)
//   fd.rport     (connect) = in, or their `not`              the destination port
//   fd.rip, fd.rnet (connect) = in, or their `not`           the destination address, networks
// with `or` allowed between comparisons of one field. Anything else is refused with the reason
// and where it is: a rule is never downgraded to alert-only in silence.
//
// kill: SIGKILL at the exit of open (the process never uses what it opened), at exec (before
// the new image runs) or when connect() is called, on any kernel with tracepoints. deny: the open or exec fails with EPERM
// and the process lives on, from BPF LSM programs: only where the kernel runs BPF LSM (lsm=
// includes bpf); elsewhere a deny rule is refused. At exec, deny sees the caller (proc.name,
// user.uid) and the program it is about to run (proc.exepath); kill sees the new image.
#pragma once

#include <cstdint>
#include <map>
#include <set>
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
  enum Hook { kOpen = 0, kExec = 1, kConnect = 2 };
  struct Acting {
    const Rule* rule = nullptr;
    Hook hook = kOpen;
    std::string summary;  // "kill at open: fd.name, proc.exepath"
  };
  std::vector<Acting> rules;  // bit i: rules[i]
  uint64_t hook_rules[3] = {0, 0, 0};
  uint64_t dry_run = 0;
  uint64_t deny = 0;  // rules that deny (LSM); the others kill
  EnforceDim path, exe, comm, uid, port, addr;
  // Trie keys: the bytes of a prefix, or of an exact path and its NUL. Each entry's bits already
  // hold those of every entry that is a prefix of it (the kernel finds only the longest).
  std::map<std::string, EnforceBits> paths, exes;
  std::map<std::string, EnforceBits> comms;  // at most 15 bytes
  std::map<uint32_t, EnforceBits> uids;
  std::map<uint32_t, EnforceBits> ports;
  // Addresses and networks: 16 bytes (IPv4 mapped) and the prefix length in bits; each entry's
  // bits hold those of the networks that contain it, as the paths' do.
  std::map<std::pair<std::string, int>, EnforceBits> addrs;
  // Set when every open rule's fd.name is a list of exact paths: their last components, which
  // the kernel checks before it walks an opened file's path.
  std::set<std::string> leaves;
  bool leaf_filter = false;
};

// Compiles rs.acting(). With `enforce` false every rule only reports what it would do. `bpf_lsm`:
// the kernel runs BPF LSM (bpf::Features::bpf_lsm; deny rules are refused without it, with
// `lsm_note` as the reason). Errors name the rule, its file:line and the column of the part that
// cannot be evaluated.
core::Status compile_enforcement(const RuleSet& rs, bool enforce, bool bpf_lsm, const std::string& lsm_note,
                                 EnforcePlan* out);

}  // namespace sightline::rules
