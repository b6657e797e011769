#include "rules/enforce.h"

#include <cstdlib>
#include <set>

#include "core/schema.h"

namespace sightline::rules {

namespace {

constexpr size_t kPathMax = 256;      // SL_ENF_PATH: a trie key's bytes
constexpr size_t kCommMax = 15;       // SL_COMM_LEN less its NUL
constexpr size_t kMaxEntries = 4096;  // SL_ENF_MAX_PATHS, SL_ENF_MAX_VALUES
constexpr size_t kLeafMax = 63;       // SL_ENF_LEAF less its NUL

enum class Dim { kPath, kExe, kComm, kUid, kPort, kAddr };
constexpr size_t kDimCount = 6;

struct DimRef {
  const char* field;
  Dim dim;
};
constexpr DimRef kDims[] = {{"fd.name", Dim::kPath},   {"proc.exepath", Dim::kExe},
                            {"proc.name", Dim::kComm}, {"user.uid", Dim::kUid},
                            {"fd.rport", Dim::kPort},  {"fd.rip", Dim::kAddr},
                            {"fd.rnet", Dim::kAddr}};

// Every network's bits gain those of the networks that contain it.
void close_networks(std::map<std::pair<std::string, int>, EnforceBits>* m) {
  auto out = *m;
  for (auto& [k, v] : out)
    for (const auto& [k2, v2] : *m) {
      if (k2.second >= k.second) continue;
      bool inside = true;
      for (int b = 0; b < k2.second && inside; b++)
        inside = ((k.first[b / 8] ^ k2.first[b / 8]) & (0x80 >> (b % 8))) == 0;
      if (inside) v.pos |= v2.pos, v.neg |= v2.neg;
    }
  *m = std::move(out);
}

// Every entry's bits gain those of the entries that are prefixes of it.
void close_prefixes(std::map<std::string, EnforceBits>* m) {
  std::map<std::string, EnforceBits> out = *m;
  for (auto& [k, v] : out)
    for (const auto& [k2, v2] : *m)
      if (k2.size() < k.size() && k.compare(0, k2.size(), k2) == 0)
        v.pos |= v2.pos, v.neg |= v2.neg;
  *m = std::move(out);
}

}  // namespace

core::Status compile_enforcement(const RuleSet& rs, bool enforce, bool bpf_lsm,
                                 const std::string& lsm_note, EnforcePlan* out) {
  *out = EnforcePlan{};
  auto acting = rs.acting();
  if (acting.size() > EnforcePlan::kMaxRules)
    return core::Status::error(
        EINVAL, std::to_string(acting.size()) + " rules with an action: at most " +
                    std::to_string(EnforcePlan::kMaxRules) + " can act in the kernel");
  bool leaves_only = true;  // every open rule lists exact paths (the leaf filter holds)
  for (size_t i = 0; i < acting.size(); i++) {
    const Rule& r = *acting[i];
    const uint64_t bit = 1ULL << i;
    auto fail = [&](const std::string& why, size_t column = 0) {
      return core::Status::error(
          EINVAL, r.action_origin + ": rule '" + r.name + "': action " +
                      std::string(action_name(r.action)) + ": " +
                      (column ? "condition column " + std::to_string(column) + ": " : "") + why);
    };
    if (r.action == Action::kDeny && !bpf_lsm)
      return fail("deny needs BPF LSM, which this kernel does not run (" + lsm_note +
                  "); use kill (the process dies before it can use what it opened or run what it "
                  "exec'd) or alert");
    const auto& kinds = r.condition.kinds();
    EnforcePlan::Hook hook;
    if (kinds.size() == 1 && *kinds.begin() == core::EventKind::kOpen)
      hook = EnforcePlan::kOpen;
    else if (kinds.size() == 1 && *kinds.begin() == core::EventKind::kExec)
      hook = EnforcePlan::kExec;
    else if (kinds.size() == 1 && *kinds.begin() == core::EventKind::kConnect)
      hook = EnforcePlan::kConnect;
    else {
      std::string names;
      for (auto k : kinds)
        names += (names.empty() ? "" : ", ") + std::string(core::kind_def(k).name);
      return fail("a rule acts on open, exec or connect events; this one matches " + names +
                  " (add evt.type = open, exec or connect)");
    }
    std::vector<Term> terms;
    std::string why;
    size_t col = 0;
    if (!r.condition.conjunction(&terms, &why, &col))
      return fail(why + ": only an `and` of comparisons can be evaluated in the kernel", col);
    bool positive_on[kDimCount] = {};
    bool any_positive = false;
    std::string fields;
    for (const Term& t : terms) {
      if (t.field == "evt.type") {
        if (t.negated) return fail("evt.type under `not` cannot act", t.column);
        continue;  // the hook, from the kinds above
      }
      const DimRef* d = nullptr;
      for (const auto& x : kDims)
        if (t.field == x.field) d = &x;
      if (!d)
        return fail(t.field +
                        " cannot be evaluated in the kernel (it can: fd.name, proc.exepath, "
                        "proc.name, user.uid; at connect fd.rport, fd.rip, fd.rnet)" +
                        (t.macro.empty() ? "" : " (in macro '" + t.macro + "')"),
                    t.column);
      if (d->dim == Dim::kPath && hook != EnforcePlan::kOpen)
        return fail("fd.name acts only on open", t.column);
      if ((d->dim == Dim::kPort || d->dim == Dim::kAddr) && hook != EnforcePlan::kConnect)
        return fail(t.field + " acts only on connect", t.column);
      // The term's polarity: its `not`, flipped by a != (all its alternatives must agree).
      int ne = -1;
      for (const auto& a : t.alts) {
        int this_ne = a.op == "!=";
        if (ne >= 0 && ne != this_ne) return fail("= and != joined by or on " + t.field, t.column);
        ne = this_ne;
      }
      const bool negative = t.negated != (ne == 1);
      const size_t di = static_cast<size_t>(d->dim);
      if (!negative) {
        if (positive_on[di])
          return fail("two conditions that " + t.field + " must meet: join them into one (in, or)",
                      t.column);
        positive_on[di] = any_positive = true;
      }
      std::map<std::string, EnforceBits>* paths = d->dim == Dim::kPath  ? &out->paths
                                                  : d->dim == Dim::kExe ? &out->exes
                                                                        : nullptr;
      auto add = [&](auto& map, const auto& key) {
        EnforceBits& b = map[key];
        (negative ? b.neg : b.pos) |= bit;
      };
      for (const auto& a : t.alts) {
        const bool path_op =
            a.op == "=" || a.op == "!=" || a.op == "in" || a.op == "startswith" || a.op == "pmatch";
        const bool set_op = a.op == "=" || a.op == "!=" || a.op == "in";
        if (paths ? !path_op : !set_op)
          return fail(t.field + " " + a.op + " cannot be evaluated in the kernel (" +
                          (paths ? "=, !=, in, startswith, pmatch" : "=, !=, in") + ")",
                      t.column);
        for (const auto& v : a.values) {
          if (paths) {
            if (v.empty() || v[0] != '/')
              return fail(
                  "'" + v + "' is not an absolute path: the kernel matches the file's full path",
                  t.column);
            if (v.size() >= kPathMax)
              return fail("'" + v.substr(0, 40) + "...' is longer than " +
                              std::to_string(kPathMax - 1) + " bytes",
                          t.column);
            if (a.op == "startswith") {
              add(*paths, v);
            } else if (a.op == "pmatch") {  // the directory itself, or below it
              add(*paths, v.back() == '/' ? v : v + "/");
              if (v.back() != '/') add(*paths, v + std::string(1, '\0'));
            } else {
              add(*paths, v + std::string(1, '\0'));
            }
            if (d->dim == Dim::kPath) {
              std::string leaf = v.substr(v.rfind('/') + 1);
              bool exact = !negative && (a.op == "=" || a.op == "in");
              if (exact && !leaf.empty() && leaf.size() <= kLeafMax && leaf != "." && leaf != "..")
                out->leaves.insert(leaf);
              else
                leaves_only = false;
            }
          } else if (d->dim == Dim::kAddr) {
            unsigned char a[16];
            int prefix = 0;
            if (!parse_network16(v, a, &prefix))
              return fail("'" + v + "' is not an address or network", t.column);
            if (t.field == "fd.rip" && prefix != 128 && prefix != 96 + 32)
              return fail("fd.rip takes addresses; networks go with fd.rnet", t.column);
            add(out->addrs, std::make_pair(std::string(reinterpret_cast<char*>(a), 16), prefix));
          } else if (d->dim == Dim::kComm) {
            if (v.size() > kCommMax)
              return fail("'" + v + "' is longer than a task name (15 bytes): it can never match",
                          t.column);
            add(out->comms, v);
          } else {
            char* end;
            errno = 0;
            unsigned long long u = strtoull(v.c_str(), &end, 0);
            const bool port = d->dim == Dim::kPort;
            if (v.empty() || *end || errno || u > (port ? 65535 : UINT32_MAX))
              return fail("'" + v + "' is not a " + (port ? "port" : "uid"), t.column);
            add(port ? out->ports : out->uids, static_cast<uint32_t>(u));
          }
        }
      }
      EnforceDim& dim = d->dim == Dim::kPath   ? out->path
                        : d->dim == Dim::kExe  ? out->exe
                        : d->dim == Dim::kComm ? out->comm
                        : d->dim == Dim::kUid  ? out->uid
                        : d->dim == Dim::kPort ? out->port
                                               : out->addr;
      dim.constrained |= bit;
      if (!negative) dim.nopos &= ~bit;
      if (fields.find(t.field) == std::string::npos)
        fields += (fields.empty() ? "" : ", ") + t.field;
    }
    if (!any_positive)
      return fail(
          "no condition says what it must match (fd.name, proc.exepath, proc.name, user.uid, "
          "fd.rport, fd.rip or fd.rnet with =, in, startswith, pmatch): it would act on every " +
          std::string(hook == EnforcePlan::kOpen   ? "open"
                      : hook == EnforcePlan::kExec ? "exec"
                                                   : "connect"));
    if (hook == EnforcePlan::kOpen && !positive_on[static_cast<size_t>(Dim::kPath)])
      leaves_only = false;
    out->hook_rules[hook] |= bit;
    if (!enforce) out->dry_run |= bit;
    if (r.action == Action::kDeny) out->deny |= bit;
    out->rules.push_back({&r, hook,
                          std::string(action_name(r.action)) + " at " +
                              (hook == EnforcePlan::kOpen   ? "open"
                               : hook == EnforcePlan::kExec ? "exec"
                                                            : "connect") +
                              (enforce ? "" : " (dry run: enforce is false)") + ": " + fields});
  }
  out->leaf_filter = leaves_only && out->hook_rules[EnforcePlan::kOpen];
  if (!out->leaf_filter) out->leaves.clear();
  close_prefixes(&out->paths);
  close_prefixes(&out->exes);
  close_networks(&out->addrs);
  for (size_t n : {out->paths.size(), out->exes.size(), out->comms.size(), out->uids.size(),
                   out->leaves.size(), out->ports.size(), out->addrs.size()})
    if (n > kMaxEntries)
      return core::Status::error(EINVAL, "the acting rules need " + std::to_string(n) +
                                             " values of one field in the "
                                             "kernel: at most " +
                                             std::to_string(kMaxEntries));
  return {};
}

}  // namespace sightline::rules
