// Configuration: defaults, and errors that name the file, line and key.
#include <gtest/gtest.h>

#include <set>

#include "agent/config.h"
#include "sources/l7/l7_source.h"
#include "sources/packets/packets_source.h"
#include "sources/profile/profile_source.h"
#include "sources/syscalls/syscalls_source.h"

using namespace sightline::agent;

namespace {
std::string error_of(const std::string& yaml) {
  AgentConfig c;
  auto st = parse_config(yaml, "agent.yaml", &c);
  return st.ok() ? "" : st.message();
}
}  // namespace

TEST(Config, EmptyFileGivesDefaults) {
  AgentConfig c;
  ASSERT_TRUE(parse_config("", "agent.yaml", &c).ok());
  EXPECT_EQ(c.listen, "127.0.0.1:9190");
  EXPECT_EQ(c.poll_interval_ms, 100u);
  ASSERT_TRUE(c.sources.count("process"));
  ASSERT_TRUE(c.sources.count("file"));
  EXPECT_TRUE(c.sources["file"].enabled);
  // A program on every syscall: on when asked, and then with its options.
  EXPECT_FALSE(c.sources["syscalls"].enabled);
  ASSERT_TRUE(parse_config("sources: {syscalls: {enabled: true}}\n", "agent.yaml", &c).ok());
  EXPECT_TRUE(c.sources["syscalls"].enabled);
  EXPECT_TRUE(c.sources["process"].enabled) << "the others keep their defaults";
}

TEST(Config, TheDefaultFileParsesToTheDefaults) {
  AgentConfig c;
  auto st = parse_config(default_config_yaml(), "default", &c);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(c.listen, default_config().listen);
  EXPECT_EQ(c.max_processes, default_config().max_processes);
  for (const auto& [name, sc] : default_config().sources)
    EXPECT_EQ(c.sources[name].enabled, sc.enabled) << name << ": the file shows what the defaults are";
}

TEST(Config, ValuesAreApplied) {
  AgentConfig c;
  auto st = parse_config("listen: 127.0.0.1:9999\npoll_interval_ms: 50\nsources:\n  file:\n"
                         "    enabled: false\n  process:\n    failed_only: true\n    ring_bytes: 65536\n",
                         "agent.yaml", &c);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(c.listen, "127.0.0.1:9999");
  EXPECT_EQ(c.poll_interval_ms, 50u);
  EXPECT_FALSE(c.sources["file"].enabled);
  EXPECT_TRUE(c.sources["process"].failed_only);
  EXPECT_EQ(c.sources["process"].ring_bytes, 65536u);
}

TEST(Config, BpfStatsModeIsOneOfFour) {
  AgentConfig c;
  EXPECT_EQ(c.overhead.bpf_stats, BpfStatsMode::kAuto) << "the default: sampled where switching is safe";
  ASSERT_TRUE(parse_config("overhead: {bpf_stats: sampled}\n", "agent.yaml", &c).ok());
  EXPECT_EQ(c.overhead.bpf_stats, BpfStatsMode::kSampled);
  ASSERT_TRUE(parse_config("overhead: {bpf_stats: always}\n", "agent.yaml", &c).ok());
  EXPECT_EQ(c.overhead.bpf_stats, BpfStatsMode::kAlways);
  ASSERT_TRUE(parse_config("overhead: {bpf_stats: \"off\"}\n", "agent.yaml", &c).ok());
  EXPECT_EQ(c.overhead.bpf_stats, BpfStatsMode::kOff);
  EXPECT_EQ(error_of("overhead:\n  bpf_stats: sometimes\n"),
            "agent.yaml:2:14: overhead.bpf_stats: \"sometimes\" is not one of auto, sampled, always, off");
}

TEST(Config, MemoryLimitIsASizeWithinBounds) {
  AgentConfig c;
  EXPECT_EQ(c.memory_limit, 128ULL << 20);
  ASSERT_TRUE(parse_config("memory_limit: 256MiB\n", "a.yaml", &c));
  EXPECT_EQ(c.memory_limit, 256ULL << 20);
  auto st = parse_config("memory_limit: 8MiB\n", "a.yaml", &c);
  ASSERT_FALSE(st);
  EXPECT_NE(st.message().find("a.yaml:1"), std::string::npos) << st.message();
  EXPECT_NE(st.message().find("memory_limit"), std::string::npos) << st.message();
  EXPECT_FALSE(parse_config("memory_limit: lots\n", "a.yaml", &c));
}

TEST(Config, UnknownKeyNamesLineAndAlternatives) {
  std::string e = error_of("listen: 127.0.0.1:9190\nsorces:\n  file: {}\n");
  EXPECT_NE(e.find("agent.yaml:2:1"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'sorces'"), std::string::npos) << e;
  EXPECT_NE(e.find("sources"), std::string::npos) << e;
}

TEST(Config, UnknownSourceAndSourceKey) {
  std::string e = error_of("sources:\n  nosuch:\n    enabled: true\n");
  EXPECT_NE(e.find("agent.yaml:2:3"), std::string::npos) << e;
  EXPECT_NE(e.find("sources.nosuch"), std::string::npos) << e;
  e = error_of("sources:\n  file:\n    enabeld: true\n");
  EXPECT_NE(e.find("agent.yaml:3:5"), std::string::npos) << e;
  EXPECT_NE(e.find("sources.file.enabeld"), std::string::npos) << e;
}

TEST(Config, WrongTypeNamesKeyAndValue) {
  std::string e = error_of("poll_interval_ms: fast\n");
  EXPECT_NE(e.find("agent.yaml:1:19"), std::string::npos) << e;
  EXPECT_NE(e.find("poll_interval_ms: expected a whole number, got 'fast'"), std::string::npos) << e;
  e = error_of("sources:\n  file:\n    enabled: maybe\n");
  EXPECT_NE(e.find("agent.yaml:3:14"), std::string::npos) << e;
  EXPECT_NE(e.find("expected true or false"), std::string::npos) << e;
}

TEST(Config, OutOfRange) {
  std::string e = error_of("poll_interval_ms: 1\n");
  EXPECT_NE(e.find("out of range (10 to 10000)"), std::string::npos) << e;
}

TEST(Config, SyntaxErrorNamesLine) {
  std::string e = error_of("listen: 127.0.0.1:9190\nsources: [file\n");
  EXPECT_NE(e.find("agent.yaml:"), std::string::npos) << e;
  EXPECT_NE(e.find("YAML syntax"), std::string::npos) << e;
}

TEST(Config, NonLoopbackNeedsAToken) {
  std::string e = error_of("listen: 0.0.0.0:9190\n");
  EXPECT_NE(e.find("api_token"), std::string::npos) << e;
  EXPECT_EQ(error_of("listen: 0.0.0.0:9190\napi_token: s3cret\n"), "");
  EXPECT_NE(error_of("listen: 127.0.0.1\n").find("host:port"), std::string::npos);
  EXPECT_NE(error_of("listen: 127.0.0.1:99999\n").find("port"), std::string::npos);
}

TEST(Config, TopLevelMustBeAMapping) {
  EXPECT_NE(error_of("- a\n- b\n").find("mapping"), std::string::npos);
}

TEST(Config, NonScalarKeysAreRefused) {
  // Found by tests/fuzz/config_fuzz: a mapping used as a key threw out of the parser.
  std::string e = error_of("? [a, b]\n: 1\n");
  EXPECT_NE(e.find("agent.yaml:1:3"), std::string::npos) << e;
  EXPECT_NE(e.find("keys are names"), std::string::npos) << e;
  e = error_of("sources:\n  ? {x: 1}\n  : {}\n");
  EXPECT_NE(e.find("under sources"), std::string::npos) << e;
}

TEST(Config, ProcessLabelsAndInterfaces) {
  AgentConfig c;
  auto st = parse_config("process_labels: [comm, container_id]\nsources:\n  packets:\n    interfaces: [eth0, veth*]\n",
                         "agent.yaml", &c);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(c.process_labels, (std::vector<std::string>{"comm", "container_id"}));
  EXPECT_EQ(c.sources["packets"].own_as<sightline::sources::PacketsOptions>().interfaces, (std::vector<std::string>{"eth0", "veth*"}));
  ASSERT_TRUE(parse_config("sources:\n  syscalls: {latency: false}\n", "agent.yaml", &c).ok());
  EXPECT_FALSE(c.sources["syscalls"].own_as<sightline::sources::SyscallsOptions>().latency);
  EXPECT_EQ(default_config().process_labels, std::vector<std::string>{"comm"});
  std::string e = error_of("process_labels: [comm, uid]\n");
  EXPECT_NE(e.find("agent.yaml:1:17"), std::string::npos) << e;
  EXPECT_NE(e.find("'uid' is not one of: comm, container_id, pid"), std::string::npos) << e;
  e = error_of("process_labels: [pid, pid]\n");
  EXPECT_NE(e.find("listed twice"), std::string::npos) << e;
  e = error_of("process_labels: comm\n");
  EXPECT_NE(e.find("expected a list"), std::string::npos) << e;
  e = error_of("sources:\n  file:\n    interfaces: [eth0]\n");
  EXPECT_NE(e.find("unknown key 'sources.file.interfaces'"), std::string::npos) << e;
}

TEST(Config, Uprobes) {
  AgentConfig c;
  auto st = parse_config("uprobes:\n  - {target: \"libc:malloc\", latency: true}\n  - target: /bin/x:main\n",
                         "agent.yaml", &c);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(c.uprobes.size(), 2u);
  EXPECT_EQ(c.uprobes[0].target, "libc:malloc");
  EXPECT_TRUE(c.uprobes[0].latency);
  EXPECT_FALSE(c.uprobes[1].latency);
  std::string e = error_of("uprobes:\n  - {target: malloc}\n");
  EXPECT_NE(e.find("uprobes[0].target: 'malloc' is not BINARY:SYMBOL"), std::string::npos) << e;
  e = error_of("uprobes:\n  - {target: libc:malloc, latncy: true}\n");
  EXPECT_NE(e.find("unknown key 'uprobes[0].latncy'"), std::string::npos) << e;
  e = error_of("uprobes: libc:malloc\n");
  EXPECT_NE(e.find("expected a list"), std::string::npos) << e;
}

TEST(Config, Tracepoints) {
  AgentConfig c;
  auto st = parse_config("tracepoints:\n  - {event: \"syscalls:sys_enter_kill\", count_by: sig}\n"
                         "  - {event: block:block_rq_issue, hist: bytes}\n", "agent.yaml", &c);
  ASSERT_TRUE(st.ok()) << st.message();
  ASSERT_EQ(c.tracepoints.size(), 2u);
  EXPECT_EQ(c.tracepoints[0].count_by, "sig");
  EXPECT_EQ(c.tracepoints[1].hist, "bytes");
  std::string e = error_of("tracepoints:\n  - {event: sched}\n");
  EXPECT_NE(e.find("'sched' is not CATEGORY:NAME"), std::string::npos) << e;
  e = error_of("tracepoints:\n  - {event: a:b, count_by: x, hist: y}\n");
  EXPECT_NE(e.find("set one of count_by or hist"), std::string::npos) << e;
}

TEST(Config, Store) {
  AgentConfig c;
  auto st = parse_config("store:\n  path: /tmp/x.db\n  retention: 2d\n  max_size: 256MiB\n  kinds: [exec, open]\n"
                         "  metrics_interval: 1m\n",
                         "agent.yaml", &c);
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(c.store.path, "/tmp/x.db");
  EXPECT_EQ(c.store.retention_s, 2u * 86400);
  EXPECT_EQ(c.store.max_bytes, 256ULL << 20);
  EXPECT_EQ(c.store.kinds, (std::vector<std::string>{"exec", "open"}));
  EXPECT_EQ(c.store.metrics_interval_s, 60u);
  std::string e = error_of("store:\n  retention: 7 days\n");
  EXPECT_NE(e.find("agent.yaml:2:14: store.retention"), std::string::npos) << e;
  e = error_of("store:\n  max_size: 10KB\n");
  EXPECT_NE(e.find("store.max_size: at least 1MiB"), std::string::npos) << e;
  e = error_of("store:\n  kinds: [exec, opne]\n");
  EXPECT_NE(e.find("store.kinds: 'opne' is not an event kind"), std::string::npos) << e;
  e = error_of("store:\n  pth: x\n");
  EXPECT_NE(e.find("unknown key 'store.pth'"), std::string::npos) << e;
}

TEST(Config, AlertsOnStdoutAutoByDefault) {
  AgentConfig c;
  ASSERT_TRUE(parse_config("", "agent.yaml", &c).ok());
  EXPECT_FALSE(c.rules.stdout_alerts.has_value());  // auto: printed when stdout is a terminal
  ASSERT_TRUE(parse_config("rules:\n  stdout: false\n", "agent.yaml", &c).ok());
  EXPECT_EQ(c.rules.stdout_alerts, std::optional<bool>(false));
  ASSERT_TRUE(parse_config("rules:\n  stdout: true\n", "agent.yaml", &c).ok());
  EXPECT_EQ(c.rules.stdout_alerts, std::optional<bool>(true));
  ASSERT_TRUE(parse_config("rules:\n  stdout: auto\n", "agent.yaml", &c).ok());
  EXPECT_FALSE(c.rules.stdout_alerts.has_value());
  std::string e = error_of("rules:\n  stdout: sometimes\n");
  EXPECT_NE(e.find("agent.yaml:2:11"), std::string::npos) << e;
  EXPECT_NE(e.find("rules.stdout"), std::string::npos) << e;
  EXPECT_NE(e.find("or auto"), std::string::npos) << e;
}

// Each source's section holds only what the source reads: its own options, `failed_only` where
// it knows failures, `ring_bytes` where it streams.
TEST(Config, EachSourceShowsAndTakesOnlyItsOwnKeys) {
  std::string yaml = default_config_yaml();
  auto section = [&](const std::string& name) {
    size_t at = yaml.find("\n  " + name + ":\n");
    EXPECT_NE(at, std::string::npos) << name;
    size_t end = yaml.find("\n  #", at + 1);
    return yaml.substr(at, end == std::string::npos ? std::string::npos : end - at);
  };
  std::string sched = section("sched"), l7 = section("l7"), file = section("file"), profile = section("profile");
  EXPECT_EQ(sched.find("failed_only"), std::string::npos) << sched;
  EXPECT_EQ(sched.find("ring_bytes"), std::string::npos) << sched;
  EXPECT_NE(file.find("failed_only: false"), std::string::npos) << file;
  EXPECT_NE(file.find("ring_bytes: 0"), std::string::npos) << file;
  EXPECT_EQ(l7.find("failed_only"), std::string::npos) << l7;
  EXPECT_NE(l7.find("capture_bytes: 4096"), std::string::npos) << l7;
  EXPECT_NE(l7.find("tls: true"), std::string::npos) << l7;
  EXPECT_NE(profile.find("hz: 49"), std::string::npos) << profile;
  EXPECT_EQ(file.find("capture_bytes"), std::string::npos) << file;

  std::string e = error_of("sources:\n  sched:\n    ring_bytes: 65536\n");
  EXPECT_NE(e.find("agent.yaml:3:5"), std::string::npos) << e;
  EXPECT_NE(e.find("unknown key 'sources.sched.ring_bytes'"), std::string::npos) << e;
  e = error_of("sources:\n  l7:\n    failed_only: true\n");
  EXPECT_NE(e.find("unknown key 'sources.l7.failed_only'"), std::string::npos) << e;
  e = error_of("sources:\n  l7:\n    capture_bytes: 10\n");
  EXPECT_NE(e.find("agent.yaml:3:20: sources.l7.capture_bytes: 10 is out of range (64 to 8192)"), std::string::npos) << e;
  e = error_of("sources:\n  l7:\n    ports: [memcached:11212, redis:7000]\n");
  EXPECT_NE(e.find("agent.yaml:3:5: sources.l7.ports: 'redis:7000': redis is not a protocol found by its port"), std::string::npos) << e;
  e = error_of("sources:\n  profile:\n    hz: lots\n");
  EXPECT_NE(e.find("sources.profile.hz: expected a whole number, got 'lots'"), std::string::npos) << e;
}

TEST(Config, OwnOptionsAreAppliedAndCopied) {
  AgentConfig c;
  auto st = parse_config("sources:\n  l7: {capture_bytes: 512, tls: false, routes: [\"/api/{id}/x\"]}\n  profile: {hz: 99, off_cpu: true}\n",
                         "agent.yaml", &c);
  ASSERT_TRUE(st.ok()) << st.message();
  AgentConfig copy = c;  // the agent copies its configuration: own options are deep copies
  c.sources["l7"].own_as<sightline::sources::L7Options>().capture_bytes = 1;
  const auto& l7 = copy.sources["l7"].own_as<sightline::sources::L7Options>();
  EXPECT_EQ(l7.capture_bytes, 512u);
  EXPECT_FALSE(l7.tls);
  EXPECT_EQ(l7.routes, std::vector<std::string>{"/api/{id}/x"});
  const auto& prof = copy.sources["profile"].own_as<sightline::sources::ProfileOptions>();
  EXPECT_EQ(prof.hz, 99u);
  EXPECT_TRUE(prof.off_cpu);
  // Defaults where the file says nothing.
  EXPECT_FALSE(default_config().sources["syscalls"].own_as<sightline::sources::SyscallsOptions>().latency);
}

TEST(Sources, RegistryNamesAreUniqueAndEveryKindHasOneSource) {
  std::set<std::string_view> names;
  for (const auto* s : sightline::sources::registry()) {
    EXPECT_TRUE(names.insert(s->name).second) << "two sources named " << s->name;
    EXPECT_NE(s->create, nullptr) << s->name;
    EXPECT_FALSE(s->doc.empty()) << s->name;
  }
  for (const auto* s : sightline::sources::registry())
    for (auto k : s->kinds) EXPECT_EQ(sightline::sources::source_for_kind(k), s) << s->name;
}

TEST(Config, OnlyHealthAndMetricsMayBeServedWithoutTheToken) {
  AgentConfig c;
  ASSERT_TRUE(parse_config("", "agent.yaml", &c).ok());
  EXPECT_EQ(c.public_paths, (std::vector<std::string>{"/healthz", "/metrics"}));
  ASSERT_TRUE(parse_config("public_paths: []\n", "agent.yaml", &c).ok());
  EXPECT_TRUE(c.public_paths.empty());
  std::string e = error_of("public_paths: [/metrics, /api/v1/query]\n");
  EXPECT_NE(e.find("'/api/v1/query' may not be served without the token"), std::string::npos) << e;
  EXPECT_NE(error_of("public_paths: [/]\n"), "");
}

TEST(Config, TlsNeedsBothCertificateAndKey) {
  AgentConfig c;
  ASSERT_TRUE(parse_config("tls: {cert: /c.pem, key: /k.pem}\n", "agent.yaml", &c).ok());
  EXPECT_EQ(c.tls_cert, "/c.pem");
  EXPECT_EQ(c.tls_key, "/k.pem");
  std::string e = error_of("tls: {cert: /c.pem}\n");
  EXPECT_NE(e.find("set both cert and key"), std::string::npos) << e;
  e = error_of("tls: {cert: /c.pem, key: /k.pem, ca: /ca.pem}\n");
  EXPECT_NE(e.find("ca"), std::string::npos) << e;
}

TEST(Config, CgroupScopeIsAnAbsolutePath) {
  AgentConfig c;
  ASSERT_TRUE(parse_config("", "agent.yaml", &c).ok());
  EXPECT_EQ(c.cgroup, "");  // every task
  ASSERT_TRUE(parse_config("cgroup: /sys/fs/cgroup/node-a\n", "agent.yaml", &c).ok());
  EXPECT_EQ(c.cgroup, "/sys/fs/cgroup/node-a");
  std::string e = error_of("cgroup: node-a\n");
  EXPECT_NE(e.find("agent.yaml:1:9: cgroup: 'node-a' is not an absolute path"), std::string::npos) << e;
}
