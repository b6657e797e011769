// `top`'s rates from cumulative families.
#include <gtest/gtest.h>

#include "agent/top_model.h"

using namespace sightline;

namespace {
core::MetricFamily counter(const std::string& name, std::vector<std::pair<std::string, double>> values) {
  core::MetricFamily f{name, "", core::MetricType::kCounter};
  for (auto& [comm, v] : values) f.series.push_back({{{"comm", comm}, {"syscall", "x"}}, v, {}});
  return f;
}
}  // namespace

TEST(TopModel, RatesOverTheIntervalSortedAndSummedAcrossLabels) {
  agent::TopModel m;
  m.update({counter("sightline_cpu_seconds_total", {{"a", 1}, {"b", 5}}),
            counter("sightline_syscalls_total", {{"a", 100}, {"a", 50}, {"b", 0}})},
           1);
  EXPECT_FALSE(m.ready());
  m.update({counter("sightline_cpu_seconds_total", {{"a", 2}, {"b", 5.5}, {"c", 0.1}}),
            counter("sightline_syscalls_total", {{"a", 300}, {"a", 50}, {"b", 0}}),
            counter("sightline_block_io_bytes_total", {{"b", 4096}})},
           2);
  ASSERT_TRUE(m.ready());
  auto rows = m.rows(agent::TopSort::kCpu, 10);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].comm, "a");
  EXPECT_DOUBLE_EQ(rows[0].cpu_pct, 50);       // 1 s of CPU over 2 s
  EXPECT_DOUBLE_EQ(rows[0].syscalls_per_s, 100);  // (350 - 150) / 2
  EXPECT_EQ(rows[1].comm, "b");
  EXPECT_DOUBLE_EQ(rows[1].disk_bytes_per_s, 2048);
  EXPECT_EQ(rows[2].comm, "c");  // new since the baseline: all of it counts
  EXPECT_EQ(m.rows(agent::TopSort::kDisk, 1).at(0).comm, "b");
  EXPECT_EQ(m.rows(agent::TopSort::kSyscalls, 10).size(), 3u);
}

TEST(TopModel, NetworkBytesCountIpSocketsNotLocalIpc) {
  auto sock = [](double tcp, double unix_bytes) {
    core::MetricFamily f{"sightline_socket_bytes_total", "", core::MetricType::kCounter};
    f.series.push_back({{{"comm", "n"}, {"protocol", "tcp"}, {"direction", "sent"}}, tcp, {}});
    f.series.push_back({{{"comm", "n"}, {"protocol", "unix"}, {"direction", "sent"}}, unix_bytes, {}});
    return f;
  };
  agent::TopModel m;
  m.update({sock(0, 0)}, 1);
  m.update({sock(1000, 50000)}, 1);
  auto rows = m.rows(agent::TopSort::kNet, 10);
  ASSERT_EQ(rows.size(), 1u);
  EXPECT_DOUBLE_EQ(rows[0].net_bytes_per_s, 1000);
}
