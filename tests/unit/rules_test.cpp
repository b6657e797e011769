// The rule language: conditions over schema fields, macros, lists, exceptions, overrides,
// output templates, kind indexing, and errors that name the place and suggest a field.
#include <gtest/gtest.h>

#include "rules/ruleset.h"

using namespace sightline;
using core::EventKind;
using rules::Condition;
using rules::RuleSet;

namespace {

core::Event exec_event(std::string_view comm, std::string_view path, std::string_view args) {
  core::Event e;
  e.kind = EventKind::kExec;
  e.pid = 42;
  e.comm = comm;
  e.path = path;
  e.args = args;
  e.pname = "nginx";
  e.uid = 0;
  return e;
}

core::Event open_event(std::string_view comm, std::string_view path, uint64_t flags = 0) {
  core::Event e;
  e.kind = EventKind::kOpen;
  e.pid = 43;
  e.comm = comm;
  e.path = path;
  e.flags = flags;
  e.ret = 3;
  return e;
}

rules::Context ctx() {
  rules::Context c;
  c.ancestor = [](uint32_t, int n) -> std::string { return n == 1 ? "nginx" : n == 2 ? "systemd" : ""; };
  c.user_name = [](const core::Event& e) -> std::string { return e.uid == 0 ? "root" : ""; };
  return c;
}

bool eval(const std::string& cond, const core::Event& e,
          const std::map<std::string, std::vector<std::string>>& lists = {},
          const std::map<std::string, std::string>& macros = {}) {
  Condition c;
  auto st = Condition::parse(cond, macros, lists, &c);
  EXPECT_TRUE(st.ok()) << cond << ": " << st.message();
  return c.matches(e, ctx());
}

std::string error_of(const std::string& cond) {
  Condition c;
  auto st = Condition::parse(cond, {}, {}, &c);
  return st.ok() ? "" : st.message();
}

}  // namespace

TEST(RuleCondition, OperatorsOverSchemaAndDerivedFields) {
  auto e = exec_event("bash", "/bin/bash", std::string_view("bash\0-c\0id\0", 11));
  EXPECT_TRUE(eval("evt.type = exec and proc.name = bash", e));
  EXPECT_TRUE(eval("evt.type in (open, exec)", e));
  EXPECT_FALSE(eval("evt.type = open", e));
  EXPECT_TRUE(eval("proc.name in (sh, bash, zsh)", e));
  EXPECT_TRUE(eval("proc.cmdline = 'bash -c id'", e));
  EXPECT_TRUE(eval("proc.cmdline contains '-c'", e));
  EXPECT_TRUE(eval("proc.args icontains '-C ID'", e));
  EXPECT_TRUE(eval("evt.filename startswith /bin/ and evt.filename endswith bash", e));
  EXPECT_TRUE(eval("evt.filename glob '/bin/*sh'", e));
  EXPECT_TRUE(eval("proc.pname = nginx and proc.aname[2] = systemd and proc.aname = systemd", e));
  EXPECT_FALSE(eval("proc.aname = init", e));
  EXPECT_TRUE(eval("user.name = root and user.uid = 0 and proc.pid > 40 and proc.pid <= 42", e));
  EXPECT_TRUE(eval("not proc.name = sh and (proc.name = bash or proc.name = zsh)", e));
  EXPECT_TRUE(eval("container.id exists", e));
  EXPECT_FALSE(eval("fd.name exists", e)) << "exec events have no fd.name";
}

TEST(RuleCondition, PathsListsAndMacros) {
  auto o = open_event("cat", "/etc/shadow");
  std::map<std::string, std::vector<std::string>> lists = {{"sensitive", {"/etc/shadow", "/etc/sudoers"}},
                                                           {"bin_dirs", {"/usr/bin", "/bin"}}};
  EXPECT_TRUE(eval("fd.name in sensitive", o, lists));
  EXPECT_TRUE(eval("fd.directory = /etc and fd.filename = shadow", o));
  EXPECT_TRUE(eval("fd.name pmatch (/etc)", o));
  EXPECT_FALSE(eval("fd.name pmatch (/et)", o)) << "a path prefix is a whole directory";
  EXPECT_FALSE(eval("fd.name pmatch bin_dirs", o, lists));
  EXPECT_TRUE(eval("opens_shadow", o, lists, {{"opens_shadow", "evt.type = open and fd.name = /etc/shadow"}}));
  std::map<std::string, std::string> loop = {{"a", "b"}, {"b", "a"}};
  Condition c;
  auto st = Condition::parse("a", loop, {}, &c);
  EXPECT_NE(st.message().find("refers to itself"), std::string::npos) << st.message();
}

TEST(RuleCondition, OpenFlagsAreBitTests) {
  auto w = open_event("sh", "/etc/x", 01 | 0100 | 01000);  // O_WRONLY|O_CREAT|O_TRUNC
  EXPECT_TRUE(eval("evt.arg.flags contains O_WRONLY and evt.arg.flags contains O_TRUNC", w));
  EXPECT_FALSE(eval("evt.arg.flags contains O_RDONLY", w));
  EXPECT_FALSE(eval("evt.arg.flags contains O_RDWR", w));
  EXPECT_FALSE(eval("evt.arg.flags contains O_APPEND", w));
  auto r = open_event("cat", "/etc/x", 0);
  EXPECT_TRUE(eval("evt.arg.flags contains O_RDONLY", r));
  EXPECT_FALSE(eval("evt.arg.flags contains O_WRONLY", r));
  EXPECT_TRUE(eval("evt.arg.flags contains RDONLY", r)) << "not a flag name: a text search";
}

TEST(RuleCondition, RemoteNetworks) {
  core::Event t;
  t.kind = EventKind::kTcp;
  t.raddr = "169.254.169.254";
  EXPECT_TRUE(eval("fd.rnet in (10.0.0.0/8, 169.254.0.0/16)", t));
  EXPECT_TRUE(eval("fd.rnet = 169.254.169.254", t));
  EXPECT_FALSE(eval("fd.rnet in (10.0.0.0/8, 169.254.170.0/23)", t));
  EXPECT_TRUE(eval("fd.rnet != 10.0.0.0/8", t));
  t.raddr = "fd00::1";
  EXPECT_TRUE(eval("fd.rnet in (fd00::/8)", t));
  EXPECT_FALSE(eval("fd.rnet in (10.0.0.0/8)", t)) << "families differ";
  EXPECT_NE(error_of("fd.rnet in (10.0.0.0/33)").find("not an address or network"), std::string::npos);
  EXPECT_NE(error_of("fd.rnet contains 10").find("takes =, != or in"), std::string::npos);
}

TEST(RuleCondition, KindsComeFromTypesAndFields) {
  Condition c;
  ASSERT_TRUE(Condition::parse("evt.type = exec and proc.name = sh", {}, {}, &c).ok());
  EXPECT_EQ(c.kinds(), (std::set<EventKind>{EventKind::kExec}));
  ASSERT_TRUE(Condition::parse("fd.name startswith /etc", {}, {}, &c).ok());
  EXPECT_EQ(c.kinds(), (std::set<EventKind>{EventKind::kOpen}));
  ASSERT_TRUE(Condition::parse("proc.name = sh", {}, {}, &c).ok());
  EXPECT_EQ(c.kinds().size(), static_cast<size_t>(EventKind::kCount));
}

TEST(RuleCondition, RequiredValuesTellTheKernelWhatToSend) {
  Condition c;
  std::set<std::string> v;
  ASSERT_TRUE(Condition::parse("evt.type = syscall and syscall.name in (ptrace, bpf) and proc.name != gdb", {}, {}, &c).ok());
  EXPECT_TRUE(c.required_values("syscall.name", &v));
  EXPECT_EQ(v, (std::set<std::string>{"bpf", "ptrace"}));
  v.clear();
  ASSERT_TRUE(Condition::parse("syscall.name = mount or syscall.name = umount", {}, {}, &c).ok());
  EXPECT_TRUE(c.required_values("syscall.name", &v));
  EXPECT_EQ(v.size(), 2u);
  v.clear();
  ASSERT_TRUE(Condition::parse("syscall.name = mount or proc.name = x", {}, {}, &c).ok());
  EXPECT_FALSE(c.required_values("syscall.name", &v)) << "the other branch takes any syscall";
  ASSERT_TRUE(Condition::parse("not syscall.name = mount", {}, {}, &c).ok());
  EXPECT_FALSE(c.required_values("syscall.name", &v));
}

TEST(RuleCondition, ErrorsNameTheColumnAndSuggest) {
  std::string e = error_of("proc.nme = bash");
  EXPECT_NE(e.find("column 1"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'proc.name'"), std::string::npos) << e;
  EXPECT_NE(error_of("proc.name = bash and").find("unexpected end"), std::string::npos);
  EXPECT_NE(error_of("proc.name bash").find("expected an operator"), std::string::npos);
  EXPECT_NE(error_of("(proc.name = a").find("expected ')'"), std::string::npos);
  EXPECT_NE(error_of("proc.pid = abc").find("is not a number"), std::string::npos);
  EXPECT_NE(error_of("evt.type = opne").find("no event type 'opne'"), std::string::npos);
  EXPECT_NE(error_of("proc.name in nolist").find("no list named 'nolist'"), std::string::npos);
  EXPECT_NE(error_of("proc.name = 'unterminated").find("unterminated"), std::string::npos);
  EXPECT_NE(error_of(std::string(300, '(') + "proc.name = a" + std::string(300, ')')).find("too deep"), std::string::npos);
}

TEST(RuleSet, FilesOverrideAppendExceptionsAndOutputs) {
  RuleSet rs;
  ASSERT_TRUE(rs.add(R"(
- list: shells
  items: [sh, bash]
- macro: spawned_shell
  condition: evt.type = exec and proc.name in (shells)
- rule: Shell under a web server
  desc: a shell whose parent is a server
  condition: spawned_shell and proc.pname in (nginx, httpd)
  output: "shell %proc.name (%proc.cmdline) under %proc.pname uid=%user.uid %no.such"
  priority: WARNING
  tags: [shell]
  exceptions:
    - name: health checks
      fields: [proc.cmdline]
      comps: [startswith]
      values: ["bash /healthcheck"]
- rule: Sensitive read
  condition: evt.type = open and fd.name = /etc/shadow
  output: "%proc.name read %fd.name"
  priority: error
)", "base.yaml").ok());
  ASSERT_TRUE(rs.add(R"(
- list: shells
  items: [zsh]
  append: true
- rule: Sensitive read
  enabled: false
)", "local.yaml").ok());
  auto st = rs.compile();
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(rs.enabled_count(), 1u);
  EXPECT_EQ(rs.kinds(), std::vector<EventKind>{EventKind::kExec});
  std::vector<const rules::Rule*> hits;
  auto zsh = exec_event("zsh", "/bin/zsh", std::string_view("zsh\0-i\0", 7));
  rs.match(zsh, ctx(), &hits);
  ASSERT_EQ(hits.size(), 1u) << "zsh was appended to the list";
  EXPECT_EQ(rules::render_output(hits[0]->output, zsh, ctx()), "shell zsh (zsh -i) under nginx uid=0 %no.such");
  auto health = exec_event("bash", "/bin/bash", std::string_view("bash\0/healthcheck\0", 18));
  rs.match(health, ctx(), &hits);
  EXPECT_TRUE(hits.empty()) << "the exception";
  rs.match(open_event("cat", "/etc/shadow"), ctx(), &hits);
  EXPECT_TRUE(hits.empty()) << "disabled by the second file";
}

TEST(RuleSet, FalcoOverrideAppendsAndReplaces) {
  RuleSet rs;
  ASSERT_TRUE(rs.add("- rule: R\n  condition: evt.type = exec and proc.name = sh\n  output: shell\n  priority: notice\n"
                     "  tags: [a]\n", "base.yaml").ok());
  auto st = rs.add("- rule: R\n  condition: and not proc.pname = cron\n  output: \"%proc.name under %proc.pname\"\n"
                   "  priority: critical\n  tags: [b]\n"
                   "  override: {condition: append, output: replace, priority: replace, tags: append}\n",
                   "local.yaml");
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_TRUE(rs.compile().ok());
  const auto& r = rs.rules().at(0);
  EXPECT_EQ(r.priority, rules::Priority::kCritical);
  EXPECT_EQ(r.output, "%proc.name under %proc.pname");
  EXPECT_EQ(r.tags, (std::vector<std::string>{"a", "b"}));
  std::vector<const rules::Rule*> hits;
  auto e = exec_event("sh", "/bin/sh", std::string_view("sh\0", 3));
  e.pname = "cron";
  rs.match(e, ctx(), &hits);
  EXPECT_TRUE(hits.empty()) << "the appended condition";
  e.pname = "nginx";
  rs.match(e, ctx(), &hits);
  EXPECT_EQ(hits.size(), 1u);
  RuleSet bad;
  ASSERT_TRUE(bad.add("- rule: R\n  condition: evt.type = exec\n  output: o\n", "a.yaml").ok());
  st = bad.add("- rule: R\n  output: x\n  override: {output: merge}\n", "b.yaml");
  EXPECT_NE(st.message().find("'append' or 'replace'"), std::string::npos) << st.message();
  st = bad.add("- rule: Q\n  output: x\n  override: {output: replace}\n", "b.yaml");
  EXPECT_NE(st.message().find("not defined"), std::string::npos) << st.message();
}

TEST(RuleSet, ErrorsNameFileLineAndWhat) {
  auto err = [](const std::string& yaml) {
    RuleSet rs;
    auto st = rs.add(yaml, "r.yaml");
    if (st) st = rs.compile();
    return st.ok() ? std::string() : st.message();
  };
  std::string e = err("- rule: x\n  condition: proc.nme = a\n  output: o\n");
  EXPECT_NE(e.find("r.yaml:2:14"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'proc.name'"), std::string::npos) << e;
  e = err("- rule: x\n  condition: proc.name = a\n  output: o\n  priority: loud\n");
  EXPECT_NE(e.find("r.yaml:4:13: priority 'loud'"), std::string::npos) << e;
  e = err("- rule: x\n  conditon: a\n");
  EXPECT_NE(e.find("unknown key 'conditon'"), std::string::npos) << e;
  e = err("- rule: x\n  output: o\n");
  EXPECT_NE(e.find("'condition' is required"), std::string::npos) << e;
  e = err("- rule: y\n  enabled: false\n");
  EXPECT_NE(e.find("is not defined"), std::string::npos) << e;
  e = err("- rule: x\n  condition: evt.type = exec and fd.name = /a\n  output: o\n");
  EXPECT_NE(e.find("can match no event type"), std::string::npos) << e;
  e = err("- macro: m\n  condition: proc.nam = a\n");
  EXPECT_NE(e.find("macro 'm'"), std::string::npos) << e;
  e = err("rule: x\n");
  EXPECT_NE(e.find("list of list, macro and rule items"), std::string::npos) << e;
  e = err("- rule: [x\n");
  EXPECT_NE(e.find("YAML syntax"), std::string::npos) << e;
}

#include "rules/default_rules.h"

TEST(DefaultRules, CompileAndCoverTheEventTypesTheyNeed) {
  RuleSet rs;
  auto st = rs.add(rules::default_rules_yaml(), "default");
  ASSERT_TRUE(st.ok()) << st.message();
  st = rs.compile();
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_GE(rs.enabled_count(), 18u);
  auto kinds = rs.kinds();
  for (auto k : {EventKind::kExec, EventKind::kOpen, EventKind::kSyscall})
    EXPECT_NE(std::find(kinds.begin(), kinds.end(), k), kinds.end()) << static_cast<int>(k);
  // One look-alike each way, without the kernel: the rules' logic.
  std::vector<const rules::Rule*> hits;
  auto shadow = open_event("python3", "/etc/shadow");
  rs.match(shadow, ctx(), &hits);
  ASSERT_EQ(hits.size(), 1u);
  EXPECT_EQ(hits[0]->name, "Sensitive file read by an unexpected program");
  rs.match(open_event("sshd", "/etc/shadow"), ctx(), &hits);
  EXPECT_TRUE(hits.empty());
}

namespace {
core::Event socket_syscall(std::string_view name, std::string_view comm, std::string_view type, int64_t ret,
                           std::string_view raddr, uint16_t rport) {
  core::Event e;
  e.kind = EventKind::kSyscall;
  e.pid = 44;
  e.comm = comm;
  e.sys_name = name;
  e.ret = ret;
  e.fd_num = static_cast<int32_t>(ret);
  e.fd_type = type;
  e.l4proto = type == "unix" ? "" : "tcp";
  e.raddr = raddr;
  e.rport = rport;
  return e;
}

std::vector<std::string> fired(const RuleSet& rs, const core::Event& e) {
  std::vector<const rules::Rule*> hits;
  rs.match(e, ctx(), &hits);
  std::vector<std::string> names;
  for (auto* r : hits) names.push_back(r->name);
  return names;
}
}  // namespace

TEST(DefaultRules, SocketsOnStdioConnectsAndAccepts) {
  RuleSet rs;
  ASSERT_TRUE(rs.add(rules::default_rules_yaml(), "default").ok());
  ASSERT_TRUE(rs.compile().ok());
  using V = std::vector<std::string>;
  EXPECT_EQ(fired(rs, socket_syscall("dup2", "python3", "ipv4", 0, "10.0.0.9", 443)),
            V{"Standard input or output redirected to a network connection"});
  EXPECT_EQ(fired(rs, socket_syscall("dup2", "python3", "unix", 1, "", 0)), V{}) << "a unix socket on stdout";
  EXPECT_EQ(fired(rs, socket_syscall("dup2", "sshd", "ipv6", 0, "::1", 22)), V{});
  EXPECT_EQ(fired(rs, socket_syscall("connect", "curl", "ipv4", -115, "169.254.169.254", 80)),
            V{"Outbound connection to a denied network"}) << "EINPROGRESS counts";
  EXPECT_EQ(fired(rs, socket_syscall("connect", "curl", "ipv4", -111, "169.254.169.254", 80)), V{}) << "refused";
  EXPECT_EQ(fired(rs, socket_syscall("connect", "python3", "ipv4", 0, "127.0.0.1", 4444)),
            V{"Connection to a remote-shell port"});
  EXPECT_EQ(fired(rs, socket_syscall("accept4", "ncat", "ipv4", 5, "127.0.0.1", 50000)),
            V{"Inbound connection to a shell or netcat"});
  EXPECT_EQ(fired(rs, socket_syscall("accept4", "nginx", "ipv4", 5, "127.0.0.1", 50000)), V{});
}

TEST(DefaultRules, OomKillsAndSignalsToCriticalProcesses) {
  RuleSet rs;
  ASSERT_TRUE(rs.add(rules::default_rules_yaml(), "default").ok());
  ASSERT_TRUE(rs.compile().ok());
  using V = std::vector<std::string>;
  core::Event oom;
  oom.kind = EventKind::kOomKill;
  oom.comm = "java";
  oom.target_pid = 77;
  oom.target_comm = "java";
  EXPECT_EQ(fired(rs, oom), V{"Process killed by the OOM killer"});
  auto sig = [](std::string_view sender, uint32_t sig, std::string_view target, int32_t code) {
    core::Event e;
    e.kind = EventKind::kSignal;
    e.comm = sender;
    e.pid = 500;
    e.signal = sig;
    e.target_pid = 12;
    e.target_comm = target;
    e.sig_code = code;
    return e;
  };
  EXPECT_EQ(fired(rs, sig("bash", 9, "sshd", 0)), V{"Critical process signalled to stop"});
  EXPECT_EQ(fired(rs, sig("python3", 19, "auditd", -6)), V{"Critical process signalled to stop"}) << "tgkill SIGSTOP";
  EXPECT_EQ(fired(rs, sig("systemd", 15, "sshd", 0)), V{}) << "a service manager stopping it";
  EXPECT_EQ(fired(rs, sig("bash", 1, "sshd", 0)), V{}) << "SIGHUP: reload";
  EXPECT_EQ(fired(rs, sig("bash", 9, "nginx", 0)), V{}) << "not a critical process";
  EXPECT_EQ(fired(rs, sig("sshd", 11, "sshd", 1)), V{}) << "the kernel's SIGSEGV for a fault (code > 0)";
}

TEST(RuleSet, SyscallsTheRulesNeed) {
  auto with = [](const std::string& yaml) {
    RuleSet rs;
    EXPECT_TRUE(rs.add(yaml, "t").ok());
    EXPECT_TRUE(rs.compile().ok());
    return rs.syscalls();
  };
  auto none = with("- rule: a\n  condition: evt.type = exec\n  output: o\n  priority: info\n");
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty()) << "no rule on syscall events: none";
  auto two = with("- rule: a\n  condition: syscall.name in (dup2, connect)\n  output: o\n  priority: info\n");
  ASSERT_TRUE(two.has_value());
  EXPECT_EQ(*two, (std::vector<std::string>{"connect", "dup2"}));
  EXPECT_FALSE(with("- rule: a\n  condition: evt.type = syscall and proc.name = x\n  output: o\n  priority: info\n")
                   .has_value()) << "any syscall";
}

#include <sys/stat.h>

#include <fstream>

#include "rules/users.h"

TEST(UserNames, PasswdLinesAndContainerRoots) {
  const char* passwd = "root:x:0:0:root:/root:/bin/bash\n# comment:x:7:7\nbad line\nx::\napp:x:4242:4242::/app:/bin/sh\nnobody:x:65534:65534::/:/x";
  EXPECT_EQ(rules::passwd_name(passwd, 0), "root");
  EXPECT_EQ(rules::passwd_name(passwd, 4242), "app");
  EXPECT_EQ(rules::passwd_name(passwd, 65534), "nobody") << "last line without a newline";
  EXPECT_EQ(rules::passwd_name(passwd, 7), "");
  EXPECT_EQ(rules::passwd_name(passwd, 424), "");
  // A container's process: its own /etc/passwd under /proc/PID/root.
  char dir[] = "/tmp/sl-users-XXXXXX";
  ASSERT_TRUE(mkdtemp(dir));
  std::string etc = std::string(dir) + "/77/root/etc";
  ASSERT_EQ(system(("mkdir -p " + etc).c_str()), 0);
  std::ofstream(etc + "/passwd") << passwd;
  rules::UserNames names(dir);
  EXPECT_EQ(names.name(4242, 77, "abcdef012345"), "app");
  EXPECT_EQ(names.name(4242, 78, "fedcba012345"), "") << "no such process: unknown";
  EXPECT_EQ(names.name(0, 77, ""), "root") << "the host's own lookup";
  ASSERT_EQ(system(("rm -rf " + std::string(dir)).c_str()), 0);
}

TEST(Condition, DnsLabelLengthAndEntropy) {
  core::Event e;
  e.kind = EventKind::kRequest;
  e.protocol = "dns";
  e.target = "x7k2q9vz4mw8jr1tb5.example.test";
  auto holds = [&](const char* text) {
    Condition c;
    auto st = Condition::parse(text, {}, {}, &c);
    EXPECT_TRUE(st.ok()) << st.message();
    return c.matches(e, ctx());
  };
  EXPECT_TRUE(holds("dns.label_len = 18"));
  EXPECT_TRUE(holds("dns.entropy = 417"));  // 18 distinct characters: log2(18) bits each
  e.target = "www.example.test";
  EXPECT_TRUE(holds("dns.label_len = 7 and dns.entropy < 300"));
  e.protocol = "http";  // only DNS names have labels
  EXPECT_FALSE(holds("dns.label_len >= 0"));
  std::string text;
  ASSERT_TRUE(rules::field_text("dns.label_len", e, ctx(), &text));
  EXPECT_EQ(text, "");
}

TEST(RuleSet, RequiredL7MethodsOfTheDefaultRules) {
  RuleSet rs;
  ASSERT_TRUE(rules::load_rules({}, true, &rs).ok());
  auto m = rs.required_values("l7.method");
  for (const char* want : {"DROP", "ALTER", "TRUNCATE", "COPY", "GRANT", "REVOKE", "CREATE", "CONFIG", "SLAVEOF",
                           "REPLICAOF", "MODULE", "FLUSHALL", "FLUSHDB"})
    EXPECT_EQ(m.count(want), 1u) << want;
  EXPECT_EQ(m.count("GET"), 0u);
}
