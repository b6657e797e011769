// Rules with an action compiled for the kernel (rules/enforce.h): which conditions can act,
// the reasons the others cannot (with file:line and column), and the map entries the kernel
// reads, checked by evaluating them the way bpf/enforce.bpf.c does.
#include "rules/enforce.h"

#include <gtest/gtest.h>

#include "rules/ruleset.h"

using namespace sightline;
using rules::EnforcePlan;

namespace {

core::Status compile(const std::string& yaml, EnforcePlan* plan, bool enforce = true,
                     bool bpf_lsm = false) {
  static std::vector<std::unique_ptr<rules::RuleSet>> keep;  // the plan points into its set
  keep.push_back(std::make_unique<rules::RuleSet>());
  rules::RuleSet& rs = *keep.back();
  if (auto st = rs.add(yaml, "t.yaml"); !st) return st;
  if (auto st = rs.compile(); !st) return st;
  return rules::compile_enforcement(rs, enforce, bpf_lsm, "built in but not active", plan);
}

std::string rule(const std::string& condition, const std::string& action = "kill") {
  return "- rule: R\n  condition: " + condition +
         "\n  output: x\n  priority: critical\n  action: " + action + "\n";
}

// The kernel's longest-prefix lookup of a full path in a trie's entries.
const rules::EnforceBits* lpm(const std::map<std::string, rules::EnforceBits>& m,
                              const std::string& path) {
  std::string key = path + std::string(1, '\0');
  const rules::EnforceBits* best = nullptr;
  size_t best_len = 0;
  for (const auto& [k, v] : m)
    if (k.size() <= key.size() && key.compare(0, k.size(), k) == 0 && k.size() >= best_len)
      best = &v, best_len = k.size();
  return best;
}

uint64_t dim(const rules::EnforceDim& d, const rules::EnforceBits* v) {
  return ((v ? v->pos : 0) | d.nopos) & ~(v ? v->neg : 0);
}

// bpf/enforce.bpf.c's decision for an open of `path` by `comm` (uid, executable).
uint64_t opens(const EnforcePlan& p, const std::string& path, const std::string& exe,
               const std::string& comm, uint32_t uid = 0) {
  uint64_t bits = p.hook_rules[EnforcePlan::kOpen];
  auto c = p.comms.find(comm);
  bits &= dim(p.comm, c == p.comms.end() ? nullptr : &c->second);
  auto u = p.uids.find(uid);
  bits &= dim(p.uid, u == p.uids.end() ? nullptr : &u->second);
  bits &= dim(p.path, lpm(p.paths, path));
  bits &= dim(p.exe, lpm(p.exes, exe));
  return bits;
}

}  // namespace

TEST(EnforceCompile, ExactPrefixAndNegatedDimensions) {
  EnforcePlan p;
  auto st = compile(
      rule("evt.type = open and fd.name in (/etc/shadow, /etc/gshadow) and proc.exepath startswith "
           "/tmp/ and not proc.name in (backup)"),
      &p);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(p.rules.size(), 1u);
  EXPECT_EQ(p.rules[0].summary, "kill at open: fd.name, proc.exepath, proc.name");
  EXPECT_EQ(opens(p, "/etc/shadow", "/tmp/x/cat", "cat"), 1u);
  EXPECT_EQ(opens(p, "/etc/gshadow", "/tmp/cat", "cat"), 1u);
  EXPECT_EQ(opens(p, "/etc/shadow-", "/tmp/cat", "cat"), 0u);  // exact, not a prefix
  EXPECT_EQ(opens(p, "/etc/shadow", "/usr/bin/cat", "cat"), 0u);
  EXPECT_EQ(opens(p, "/etc/shadow", "/tmp/backup", "backup"), 0u);  // excluded by name
  EXPECT_EQ(p.dry_run, 0u);
}

TEST(EnforceCompile, LeafFilterOnlyWhenEveryOpenRuleListsExactPaths) {
  EnforcePlan p;
  ASSERT_TRUE(
      compile(rule("evt.type = open and fd.name in (/etc/shadow, /root/.ssh/id_rsa)"), &p).ok());
  EXPECT_TRUE(p.leaf_filter);
  EXPECT_EQ(p.leaves, (std::set<std::string>{"shadow", "id_rsa"}));
  // A prefix, a negated path or no path at all: every open must be walked.
  for (const char* c :
       {"evt.type = open and fd.name startswith /etc/", "evt.type = open and proc.name = x",
        "evt.type = open and fd.name = /etc/shadow and not fd.name = /etc/x"}) {
    EnforcePlan q;
    ASSERT_TRUE(compile(rule(c), &q).ok()) << c;
    EXPECT_FALSE(q.leaf_filter) << c;
    EXPECT_TRUE(q.leaves.empty()) << c;
  }
}

TEST(EnforceCompile, PrefixEntriesCarryTheirShorterPrefixes) {
  EnforcePlan p;
  auto st = compile(rule("evt.type = open and fd.name startswith /etc/ and proc.name = a") +
                        "- rule: S\n  condition: evt.type = open and fd.name pmatch (/etc/ssh) and "
                        "proc.name = a\n"
                        "  output: x\n  priority: critical\n  action: kill\n",
                    &p);
  ASSERT_TRUE(st.ok()) << st.message();
  // /etc/ssh/sshd_config: the longest match is /etc/ssh/, which must carry /etc/'s rule too.
  EXPECT_EQ(opens(p, "/etc/ssh/sshd_config", "/bin/a", "a"), 3u);
  EXPECT_EQ(opens(p, "/etc/ssh", "/bin/a", "a"), 3u);   // pmatch: the directory itself
  EXPECT_EQ(opens(p, "/etc/sshx", "/bin/a", "a"), 1u);  // ... not a sibling
  EXPECT_EQ(opens(p, "/etc/hosts", "/bin/a", "a"), 1u);
  EXPECT_EQ(opens(p, "/etc/hosts", "/bin/b", "b"), 0u);
}

TEST(EnforceCompile, UidsExecAndDryRun) {
  EnforcePlan p;
  auto st =
      compile(rule("evt.type = exec and proc.exepath = /usr/bin/nc and user.uid != 0"), &p, false);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(p.hook_rules[EnforcePlan::kExec], 1u);
  EXPECT_EQ(p.hook_rules[EnforcePlan::kOpen], 0u);
  EXPECT_EQ(p.dry_run, 1u);
  EXPECT_NE(p.rules[0].summary.find("dry run"), std::string::npos);
  EXPECT_EQ(p.uids.at(0).neg, 1u);
  EXPECT_EQ(p.exes.count(std::string("/usr/bin/nc") + '\0'), 1u);
}

TEST(EnforceCompile, DenyWhereTheKernelRunsBpfLsm) {
  EnforcePlan p;
  auto st = compile(rule("evt.type = open and fd.name = /etc/shadow and proc.name = cat", "deny"),
                    &p, true, true);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(p.deny, 1u);
  EXPECT_EQ(p.rules[0].summary, "deny at open: fd.name, proc.name");
}

// bpf/enforce.bpf.c's decision for a connect to a 16-byte address (IPv4 mapped) and port.
uint64_t connects(const EnforcePlan& p, const std::string& addr, uint32_t port,
                  const std::string& comm) {
  unsigned char a[16];
  int prefix;
  EXPECT_TRUE(rules::parse_network16(addr, a, &prefix));
  std::string key(reinterpret_cast<char*>(a), 16);
  uint64_t bits = p.hook_rules[EnforcePlan::kConnect];
  auto c = p.comms.find(comm);
  bits &= dim(p.comm, c == p.comms.end() ? nullptr : &c->second);
  auto pt = p.ports.find(port);
  bits &= dim(p.port, pt == p.ports.end() ? nullptr : &pt->second);
  const rules::EnforceBits* best = nullptr;  // longest prefix
  int best_len = -1;
  for (const auto& [k, v] : p.addrs) {
    bool inside = true;
    for (int b = 0; b < k.second && inside; b++)
      inside = ((k.first[b / 8] ^ key[b / 8]) & (0x80 >> (b % 8))) == 0;
    if (inside && k.second > best_len) best = &v, best_len = k.second;
  }
  bits &= dim(p.addr, best);
  return bits;
}

TEST(EnforceCompile, ConnectByPortAndNetwork) {
  EnforcePlan p;
  auto st = compile(
      rule("evt.type = connect and fd.rnet in (10.0.0.0/8, fd00::/8) and not fd.rip = 10.1.2.3") +
          "- rule: P\n  condition: evt.type = connect and fd.rport in (4444, 31337) and not "
          "proc.name = nc\n"
          "  output: x\n  priority: critical\n  action: kill\n",
      &p);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(p.rules[0].summary, "kill at connect: fd.rnet, fd.rip");
  EXPECT_EQ(connects(p, "10.9.9.9", 80, "curl"), 1u);
  EXPECT_EQ(connects(p, "10.1.2.3", 80, "curl"), 0u);  // excluded inside the network
  EXPECT_EQ(connects(p, "fd00::1", 80, "curl"), 1u);
  EXPECT_EQ(connects(p, "192.168.1.1", 4444, "curl"), 2u);
  EXPECT_EQ(connects(p, "10.9.9.9", 31337, "curl"), 3u);
  EXPECT_EQ(connects(p, "10.9.9.9", 31337, "nc"), 1u);
  EXPECT_EQ(connects(p, "192.168.1.1", 443, "curl"), 0u);
}

TEST(EnforceCompile, AlertRulesNeedNoKernel) {
  EnforcePlan p;
  ASSERT_TRUE(compile(rule("evt.type = open and fd.name contains x", "alert"), &p).ok());
  EXPECT_TRUE(p.rules.empty());
}

TEST(EnforceCompile, RefusedWithTheReasonAndWhere) {
  struct Case {
    std::string condition, action, error;
  };
  const Case cases[] = {
      {"evt.type = open and fd.name contains shadow", "kill",
       "condition column 21: fd.name contains cannot be evaluated"},
      {"evt.type = open and (fd.name = /a or proc.name = b)", "kill",
       "`or` over comparisons of different fields"},
      {"evt.type = open and fd.name = /a and proc.pname = sh", "kill",
       "proc.pname cannot be evaluated in the kernel"},
      {"evt.type = open and not (fd.name = /a and proc.name = b)", "kill", "`not` over an `and`"},
      {"evt.type = open and fd.name = shadow", "kill", "'shadow' is not an absolute path"},
      {"evt.type = open and proc.name = averyveryverylongname", "kill", "longer than a task name"},
      {"evt.type = open and not fd.name = /etc/hosts", "kill", "it would act on every open"},
      {"evt.type = exec and proc.name = a and user.uid > 100", "kill",
       "user.uid > cannot be evaluated"},
      {"evt.type in (open, exec) and proc.name = a", "kill",
       "acts on open, exec or connect events; this one matches exec, open"},
      {"evt.type = open and fd.name startswith /a and fd.name startswith /a/b", "kill",
       "two conditions that fd.name must meet"},
      {"evt.type = connect and fd.rip = 10.0.0.0/8", "kill",
       "fd.rip takes addresses; networks go with fd.rnet"},
      {"evt.type = connect and fd.rport = 70000", "kill", "'70000' is not a port"},
      {"evt.type = open and fd.name = /etc/shadow", "deny",
       "deny needs BPF LSM, which this kernel does not run (built in but not active)"},
  };
  for (const auto& c : cases) {
    EnforcePlan p;
    auto st = compile(rule(c.condition, c.action), &p);
    ASSERT_FALSE(st.ok()) << c.condition;
    EXPECT_NE(st.message().find(c.error), std::string::npos) << st.message();
    EXPECT_EQ(st.message().rfind("t.yaml:5:", 0), 0u) << st.message();  // the action's line
  }
}

TEST(EnforceCompile, BadActionIsAnError) {
  EnforcePlan p;
  auto st = compile(rule("evt.type = open and fd.name = /a", "explode"), &p);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("action 'explode' (alert, kill or deny)"), std::string::npos)
      << st.message();
}

TEST(EnforceCompile, ActingRulesAreLeftToTheKernel) {
  rules::RuleSet rs;
  ASSERT_TRUE(rs.add(rule("evt.type = open and fd.name = /etc/shadow"), "t.yaml").ok());
  ASSERT_TRUE(rs.compile().ok());
  core::Event e;
  e.kind = core::EventKind::kOpen;
  e.path = "/etc/shadow";
  std::vector<const rules::Rule*> hits;
  rs.match(e, rules::Context{}, &hits);
  EXPECT_TRUE(hits.empty());
  EXPECT_EQ(rs.acting().size(), 1u);
}

TEST(Condition, ConjunctionPushesNotInward) {
  rules::Condition c;
  ASSERT_TRUE(
      rules::Condition::parse("evt.type = open and not (proc.name = a or proc.name = b) and "
                              "(fd.name = /x or fd.name startswith /y/)",
                              {}, {}, &c)
          .ok());
  std::vector<rules::Term> terms;
  std::string why;
  size_t col = 0;
  ASSERT_TRUE(c.conjunction(&terms, &why, &col)) << why;
  ASSERT_EQ(terms.size(), 4u);
  EXPECT_EQ(terms[1].field, "proc.name");
  EXPECT_TRUE(terms[1].negated);
  EXPECT_TRUE(terms[2].negated);
  EXPECT_EQ(terms[3].alts.size(), 2u);
  EXPECT_EQ(terms[3].alts[1].op, "startswith");
  EXPECT_EQ(terms[3].column, 63u);  // where its first comparison starts
}
