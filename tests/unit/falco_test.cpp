// Falco's rules files: the file Falco ships loads whole; its dialect (syscall names as event
// types, fd.name resolved, proc.args without argv[0], container.id "host"); the fields its rules
// use; nested and quoted lists; the facts read from /proc and the runtimes' files.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "rules/proc_facts.h"
#include "rules/ruleset.h"

using namespace sightline;
using core::EventKind;
using rules::Condition;
using rules::ParseOptions;

namespace {

rules::Context ctx() {
  rules::Context c;
  c.ancestor = [](uint32_t, int n) -> std::string { return n == 1 ? "postgres" : n == 2 ? "systemd" : ""; };
  c.process = [](uint32_t pid, rules::Context::Process* p) {
    if (pid != 7) return false;
    p->comm = "postgres";
    p->exe = "/usr/lib/postgresql/15/bin/postgres";
    p->args = std::string("postgres\0-D\0/data\0", 18);
    p->start_boot_ns = 1'000'000'000;
    return true;
  };
  c.proc_file = [](uint32_t, rules::ProcFile what, int) -> std::string {
    switch (what) {
      case rules::ProcFile::kCwd: return "/srv/app";
      case rules::ProcFile::kCapEffective: return "CAP_CHOWN CAP_SYS_MODULE";
      case rules::ProcFile::kTty: return "34816";
      default: return "";
    }
  };
  return c;
}

bool falco(const std::string& cond, const core::Event& e, const std::map<std::string, std::vector<std::string>>& lists = {}) {
  Condition c;
  auto st = Condition::parse(cond, {}, lists, &c, ParseOptions{true, nullptr});
  EXPECT_TRUE(st.ok()) << cond << ": " << st.message();
  return c.matches(e, ctx());
}

core::Event open_event(std::string_view path, uint64_t flags, uint16_t syscall) {
  core::Event e;
  e.kind = EventKind::kOpen;
  e.pid = 43;
  e.ppid = 7;
  e.comm = "cat";
  e.path = path;
  e.flags = flags;
  e.syscall = syscall;
  e.dirfd = -100;
  e.ret = 3;
  return e;
}

core::Event syscall_event(std::string_view name) {
  core::Event e;
  e.kind = EventKind::kSyscall;
  e.pid = 44;
  e.comm = "python3";
  e.sys_name = name;
  e.fd_type = "ipv4";
  e.l4proto = "tcp";
  return e;
}


}  // namespace

TEST(Falco, DefaultRulesFileLoadsWhole) {
  rules::RuleSet rs;
  ASSERT_TRUE(rules::load_rules({std::string(SL_SOURCE_DIR) + "/tests/data/falco/falco_rules.yaml"}, false, &rs).ok());
  EXPECT_EQ(rs.rules().size(), 25u);
  EXPECT_EQ(rs.enabled_count(), 25u);
  EXPECT_EQ(rs.falco_count(), 25u);
  std::string notes;
  for (const auto& n : rs.notes()) notes += n + "\n";
  EXPECT_NE(notes.find("Falco engine version 0.57.0"), std::string::npos) << notes;
  EXPECT_NE(notes.find("plugin 'container'"), std::string::npos) << notes;
  // The syscalls its rules need, for the security source: links, ptrace, sockets, modules.
  auto sys = rs.syscalls();
  ASSERT_TRUE(sys.has_value());
  for (const char* s : {"symlink", "symlinkat", "link", "linkat", "ptrace", "socket", "finit_module", "connect", "dup2"})
    EXPECT_NE(std::find(sys->begin(), sys->end(), s), sys->end()) << s;
  // Together with the built-in rules: its macros replace ours, and say so.
  rules::RuleSet both;
  ASSERT_TRUE(rules::load_rules({std::string(SL_SOURCE_DIR) + "/tests/data/falco/falco_rules.yaml"}, true, &both).ok());
  notes.clear();
  for (const auto& n : both.notes()) notes += n + "\n";
  EXPECT_NE(notes.find("macro 'spawned_process' replaces the one of <built-in rules>"), std::string::npos) << notes;
}

TEST(Falco, SyscallNamesAreEventTypes) {
  core::Event openat = open_event("/etc/shadow", 0, 2);  // SL_SYS_OPENAT
  EXPECT_TRUE(falco("evt.type in (open, openat, openat2)", openat));
  EXPECT_FALSE(falco("evt.type = open", openat));
  EXPECT_FALSE(falco("evt.type = execve", openat));
  EXPECT_TRUE(falco("evt.type != execve", openat));
  core::Event conn = syscall_event("connect");
  EXPECT_TRUE(falco("evt.type = connect", conn));
  EXPECT_FALSE(falco("evt.type in (sendto, sendmsg)", conn));  // syscalls no source reports
  core::Event tcp_connect;
  tcp_connect.kind = EventKind::kConnect;  // our handshake event is not Falco's connect syscall
  EXPECT_FALSE(falco("evt.type = connect", tcp_connect));
  core::Event exec;
  exec.kind = EventKind::kExec;
  EXPECT_TRUE(falco("evt.type in (execve, execveat) and evt.dir = <", exec));
  Condition c;
  auto st = Condition::parse("evt.type = nosuchcall", {}, {}, &c, ParseOptions{true, nullptr});
  EXPECT_NE(st.message().find("no syscall or event type 'nosuchcall'"), std::string::npos) << st.message();
  // In our own dialect, `connect` is the handshake kind.
  ASSERT_TRUE(Condition::parse("evt.type = connect", {}, {}, &c).ok());
  EXPECT_TRUE(c.matches(tcp_connect, ctx()));
}

TEST(Falco, FieldsInFalcosDialect) {
  core::Event e = open_event("/tmp/x/../../etc/shadow", 0, 2);
  EXPECT_TRUE(falco("fd.name = /etc/shadow and fd.nameraw contains '../'", e));
  EXPECT_TRUE(falco("fd.directory = /etc and fd.filename = shadow", e));
  EXPECT_TRUE(falco("evt.is_open_read = true and evt.is_open_write = false and fd.typechar = 'f' and fd.num >= 0", e));
  core::Event rel = open_event("conf/app.yaml", 01 | 01000, 2);  // O_WRONLY|O_TRUNC, relative
  EXPECT_TRUE(falco("fd.name = /srv/app/conf/app.yaml and evt.is_open_write = true", rel));
  EXPECT_TRUE(falco("evt.arg.flags contains O_TRUNC", rel));
  core::Event failed = open_event("/etc/nope", 0, 2);
  failed.ret = -2;
  EXPECT_TRUE(falco("evt.res startswith E and evt.res = ENOENT", failed));
  EXPECT_TRUE(falco("evt.res = SUCCESS", e));

  core::Event x;
  x.kind = EventKind::kExec;
  x.pid = 45;
  x.ppid = 7;
  x.comm = "sh";
  x.args = std::string_view("/bin/sh\0-c\0/dev/shm/x\0", 22);
  x.container_id = "0123456789ab";
  EXPECT_TRUE(falco("proc.args startswith '-c /dev/shm' and proc.exe = /bin/sh", x));
  EXPECT_TRUE(falco("proc.cmdline = 'sh -c /dev/shm/x'", x));
  EXPECT_TRUE(falco("proc.pcmdline = 'postgres -D /data' and proc.pexe = postgres", x));
  EXPECT_TRUE(falco("proc.pexepath endswith /postgres and proc.cwd = /srv/app and proc.tty != 0", x));
  EXPECT_TRUE(falco("thread.cap_effective icontains sys_module", x));
  EXPECT_TRUE(falco("container.id != host", x));
  x.container_id = "";
  EXPECT_FALSE(falco("container.id != host", x));
  EXPECT_TRUE(falco("not container.image.repository in (falco_images)", x, {{"falco_images", {"falcosecurity/falco"}}}));
}

TEST(Falco, NetworkEnds) {
  core::Event c = syscall_event("connect");
  c.laddr = "10.0.0.5";
  c.raddr = "93.184.216.34";
  c.lport = 40000;
  c.rport = 443;
  c.rname = "example.com";
  EXPECT_TRUE(falco("fd.sip = 93.184.216.34 and fd.sport = 443 and fd.cport = 40000 and fd.sip.name = example.com", c));
  EXPECT_TRUE(falco("fd.ip != '0.0.0.0' and fd.net != '127.0.0.0/8' and not fd.snet in ('10.0.0.0/8')", c));
  EXPECT_TRUE(falco("fd.net = '10.0.0.0/8'", c));  // either end
  EXPECT_TRUE(falco("fd.typechar = 4 and fd.l4proto = tcp and fd.connected = true and fd.name_changed = true", c));
  core::Event a = syscall_event("accept4");  // the server end is ours
  a.laddr = "10.0.0.5";
  a.raddr = "10.0.0.9";
  a.lport = 443;
  a.rport = 50000;
  EXPECT_TRUE(falco("fd.sport = 443 and fd.sip = 10.0.0.5 and fd.cip = 10.0.0.9", a));
  core::Event p = syscall_event("ptrace");
  p.sys_args[0] = 16;
  EXPECT_TRUE(falco("evt.type = ptrace and evt.arg.request contains PTRACE_ATTACH", p));
  core::Event s = syscall_event("socket");
  s.sys_args[0] = 17;
  EXPECT_TRUE(falco("evt.type = socket and evt.arg.domain contains AF_PACKET", s));
  core::Event l = syscall_event("symlinkat");
  l.path = "/etc/shadow";
  l.path2 = "/tmp/l";
  EXPECT_TRUE(falco("evt.type in (symlink, symlinkat) and evt.arg.target = /etc/shadow and evt.arg.linkpath = /tmp/l", l));
}

TEST(Falco, ListsNestAndUnquote) {
  std::map<std::string, std::vector<std::string>> lists = {
      {"db", {"postgres", "mysqld"}}, {"protected", {"db", "nginx"}}, {"login", {"login", "\"(systemd)\""}}};
  core::Event x;
  x.kind = EventKind::kExec;
  x.pid = 45;
  x.comm = "(systemd)";
  EXPECT_TRUE(falco("proc.aname in (protected)", x, lists));  // postgres, through db
  EXPECT_TRUE(falco("proc.name in (login)", x, lists));
  EXPECT_TRUE(falco("proc.name in (protected, login)", x, lists));
  // A backslash escapes a quote inside a string.
  x.args = std::string_view("sh\0-c\0envdir \"/run\" x\0", 22);
  x.comm = "sh";
  EXPECT_TRUE(falco(R"(proc.cmdline startswith "sh -c envdir \"/run\"")", x));
}

TEST(Falco, ItemsOfFalcosFileFormat) {
  rules::RuleSet rs;
  auto st = rs.add(R"(
- required_engine_version: 0.57.0
- required_plugin_versions:
    - name: k8saudit
      version: 0.7.0
- rule: Audit only
  condition: ka.verb = create
  output: x
  priority: NOTICE
  source: k8s_audit
- rule: Unknown field skipped
  condition: evt.type = execve and proc.nosuch = x
  output: x
  priority: NOTICE
  skip-if-unknown-filter: true
- list: l
  items: [a]
- list: l
  items: [b]
  override:
    items: append
- rule: Uses list
  condition: evt.type = execve and proc.name in (l)
  output: "%proc.args %fd.name"
  priority: NOTICE
  warn_evttypes: false
)", "f.yaml");
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_TRUE(rs.compile().ok());
  EXPECT_EQ(rs.enabled_count(), 1u);
  std::string notes;
  for (const auto& n : rs.notes()) notes += n + "\n";
  EXPECT_NE(notes.find("plugin 'k8saudit': not provided"), std::string::npos) << notes;
  EXPECT_NE(notes.find("rule 'Audit only' left out: its source 'k8s_audit'"), std::string::npos) << notes;
  EXPECT_NE(notes.find("rule 'Unknown field skipped' disabled (skip-if-unknown-filter)"), std::string::npos) << notes;
  const rules::Rule* r = nullptr;
  for (const auto& x : rs.rules())
    if (x.name == "Uses list") r = &x;
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(r->output, "%proc.cmdargs %fd.abspath");  // Falco's names in outputs too
  core::Event e;
  e.kind = EventKind::kExec;
  e.comm = "b";
  EXPECT_TRUE(r->condition.matches(e, ctx()));
}

TEST(ProcFacts, PureParsers) {
  EXPECT_EQ(rules::cap_names(0x1 | (1ULL << 21)), "CAP_CHOWN CAP_SYS_ADMIN");
  EXPECT_EQ(rules::ptrace_request_name(0x4206), "PTRACE_SEIZE");
  EXPECT_EQ(rules::ptrace_request_name(999), "PTRACE_999");
  EXPECT_EQ(rules::socket_domain_name(17), "AF_PACKET");
  EXPECT_EQ(rules::absolute_path("/srv/app", "../etc/./x"), "/srv/etc/x");
  EXPECT_EQ(rules::absolute_path("/", "/a/../../b//c/"), "/b/c");
  EXPECT_EQ(rules::absolute_path("/x", "/"), "/");
  std::string upper;
  const char* mi =
      "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n"
      "36 22 0:40 / /m rw,relatime shared:1 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w\n";
  ASSERT_TRUE(rules::overlay_upper_file(mi, "/m/bin/x", &upper));
  EXPECT_EQ(upper, "/u/bin/x");
  EXPECT_FALSE(rules::overlay_upper_file(mi, "/mnt/x", &upper));
  std::string repo, tag;
  rules::split_image("registry:5000/team/app:1.2@sha256:ab", &repo, &tag);
  EXPECT_EQ(repo, "registry:5000/team/app");
  EXPECT_EQ(tag, "1.2");
  rules::split_image("nginx", &repo, &tag);
  EXPECT_EQ(repo, "nginx");
  EXPECT_EQ(tag, "");
  rules::ContainerMeta m;
  EXPECT_TRUE(rules::parse_docker_meta(
      R"({"ID":"ab","Config":{"Image":"docker.io/library/nginx:1.25","Labels":{"io.kubernetes.pod.namespace":"kube-system"}}})",
      R"({"Privileged":true,"NetworkMode":"host"})", &m));
  EXPECT_EQ(m.image, "docker.io/library/nginx:1.25");
  EXPECT_EQ(m.ns, "kube-system");
  EXPECT_EQ(m.privileged, 1);
  rules::ContainerMeta o;
  EXPECT_TRUE(rules::parse_oci_meta(
      R"({"ociVersion":"1.0.2","annotations":{"io.kubernetes.cri.image-name":"quay.io/x/y:2","io.kubernetes.cri.sandbox-namespace":"prod"}})",
      &o));
  EXPECT_EQ(o.image, "quay.io/x/y:2");
  EXPECT_EQ(o.ns, "prod");
  EXPECT_EQ(o.privileged, -1);
  EXPECT_FALSE(rules::parse_oci_meta("{not json", &o));
}

TEST(ProcFacts, ReadsProcAndRuntimeFiles) {
  char dir[] = "/tmp/sl-procfacts-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string root = dir;
  mkdir((root + "/99").c_str(), 0755);
  std::ofstream(root + "/99/status") << "Name:\tx\nCapEff:\t0000000000210001\n";
  std::ofstream(root + "/99/stat") << "99 (a b) S 1 99 99 34816 0 0\n";
  std::ofstream(root + "/99/loginuid") << "4294967295";
  EXPECT_EQ(rules::read_proc_file(root, 99, rules::ProcFile::kCapEffective), "CAP_CHOWN CAP_SYS_MODULE CAP_SYS_ADMIN");
  EXPECT_EQ(rules::read_proc_file(root, 99, rules::ProcFile::kCapSysAdmin), "true");
  EXPECT_EQ(rules::read_proc_file(root, 99, rules::ProcFile::kTty), "34816");
  EXPECT_EQ(rules::read_proc_file(root, 99, rules::ProcFile::kLoginUid), "-1");
  EXPECT_EQ(rules::read_proc_file(root, 98, rules::ProcFile::kTty), "");  // gone
  // Docker's files, found by the short id.
  std::string c = root + "/var/lib/docker/containers/0123456789abcdef";
  ASSERT_EQ(system(("mkdir -p " + c).c_str()), 0);
  std::ofstream(c + "/config.v2.json") << R"({"Config":{"Image":"alpine:3.19"}})";
  rules::ContainerMetaCache cache(root);
  EXPECT_EQ(cache.get("0123456789ab").image, "alpine:3.19");
  EXPECT_EQ(cache.get("ffffffffffff").image, "");
  ASSERT_EQ(system(("rm -rf " + root).c_str()), 0);
}
