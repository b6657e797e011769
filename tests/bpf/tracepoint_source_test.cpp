// tracepoint source against the real kernel: a child makes a known number of close(-5) and
// read(fd, buf, 3000) calls; counted by a field in the kernel, histogrammed, and streamed with
// the fields decoded from tracefs.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <map>

#include "harness.h"
#include "sources/tracepoint/tracepoint_source.h"

using namespace sightline;
using test::Harness;

namespace {
// fd is an unsigned int in sys_enter_close: close(-5) shows as 4294967291.
// Runs `calls` in a child named sl-tp-test once the source is attached; returns its pid.
pid_t run_child(int closes, int reads) {
  pid_t pid = fork();
  if (pid == 0) {
    prctl(PR_SET_NAME, "sl-tp-test");
    char buf[3000];
    int fd = open("/dev/zero", O_RDONLY);
    for (int i = 0; i < closes; i++) close(-5);
    for (int i = 0; i < reads; i++)
      if (read(fd, buf, sizeof buf) != (ssize_t)sizeof buf) _exit(1);
    _exit(0);
  }
  int st = 0;
  waitpid(pid, &st, 0);
  return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? pid : -1;
}
}  // namespace

TEST(TracepointSource, CountByAFieldAndHistogramOfAnotherInTheKernel) {
  Harness h;
  sources::SourceOptions o;
  o.filter.comm = "sl-tp-test";
  o.own_as<sources::TracepointOptions>().probes = {{"syscalls:sys_enter_close", "fd", ""}, {"tp:syscalls:sys_enter_read", "", "count"}};
  h.start("tracepoint", o);
  ASSERT_GT(run_child(123, 45), 0);
  h.runner().collect_all();
  EXPECT_EQ(h.metric("sightline_tracepoint_events_total",
                     {{"tracepoint", "syscalls:sys_enter_close"}, {"field", "fd"}, {"value", "4294967291"}}),
            123);
  EXPECT_EQ(h.metric("sightline_tracepoint_field_value", {{"tracepoint", "syscalls:sys_enter_read"}}), 45);
  double in_bucket = -1;
  h.runner().visit_metrics([&](const core::MetricFamily& f) {
    if (f.name == "sightline_tracepoint_field_value")
      for (const auto& s : f.series) in_bucket = double(s.hist.count_below(4096) - s.hist.count_below(2048));
  });
  EXPECT_EQ(in_bucket, 45) << "every read asked for 3000 bytes: the [2048, 4096) bucket";
}

TEST(TracepointSource, RecordsStreamedAndDecodedFromTheFormat) {
  Harness h;
  tracepoint::Format fmt;
  ASSERT_TRUE(sources::tracepoint_format("syscalls:sys_enter_close", &fmt).ok());
  const tracepoint::Field* fd = fmt.find("fd");
  ASSERT_TRUE(fd);
  std::map<std::string, int> fds;
  uint32_t pid = 0;
  sources::SourceOptions o;
  o.filter.comm = "sl-tp-test";
  o.own_as<sources::TracepointOptions>().probes = {{"syscalls:sys_enter_close", "", ""}};
  o.own_as<sources::TracepointOptions>().records = [&](size_t probe, const uint8_t* rec, size_t len, const core::Event& hdr) {
    EXPECT_EQ(probe, 0u);
    tracepoint::Value v;
    if (tracepoint::field_value(*fd, rec, len, &v)) fds[v.text]++;
    pid = hdr.pid;
  };
  h.start("tracepoint", o);
  pid_t child = run_child(17, 0);
  ASSERT_GT(child, 0);
  ASSERT_TRUE(h.pump_until([&] { return fds["4294967291"] == 17; })) << [&] { std::string s; for (auto& [k, n] : fds) s += k + "=" + std::to_string(n) + " "; return s; }();
  EXPECT_EQ(pid, (uint32_t)child);
}

TEST(TracepointSource, UnknownTracepointsAndFieldsAreClearErrors) {
  agent::Runner r(bpf::probe_features());
  sources::SourceOptions o;
  o.own_as<sources::TracepointOptions>().probes = {{"sched:no_such_event", "", ""}};
  auto st = r.start("tracepoint", o);
  EXPECT_NE(st.message().find("no tracepoint sched:no_such_event"), std::string::npos) << st.message();
  o.own_as<sources::TracepointOptions>().probes = {{"sched:sched_switch", "no_field", ""}};
  st = r.start("tracepoint", o);
  EXPECT_NE(st.message().find("has no field 'no_field' (fields: prev_comm"), std::string::npos) << st.message();
  o.own_as<sources::TracepointOptions>().probes = {{"sched:sched_switch", "", "prev_comm"}};
  st = r.start("tracepoint", o);
  EXPECT_NE(st.message().find("--hist needs an integer field"), std::string::npos) << st.message();
  o.own_as<sources::TracepointOptions>().probes = {{"../../etc:passwd", "", ""}};
  st = r.start("tracepoint", o);
  EXPECT_FALSE(st.ok());
}
