// Prometheus text exposition.
#include <gtest/gtest.h>

#include "export/prom_text.h"

using namespace sightline::exporter;

namespace {
// A latency histogram in ns, exported in seconds, with two `le` bounds.
sightline::core::MetricFamily latency_family() {
  sightline::core::MetricFamily f;
  f.name = "x_latency_seconds";
  f.help = "Latency";
  f.type = sightline::core::MetricType::kHistogram;
  f.scale = 1e-9;
  f.bounds = {1024, 1048576};
  return f;
}
}  // namespace

TEST(PromText, FamiliesSamplesAndEscaping) {
  PromWriter w;
  w.family("sightline_events_total", "counter", "Events\ndelivered");
  w.sample("sightline_events_total", {{"source", "file"}, {"path", "a\"b\\c\nd"}}, 42);
  w.sample("up", 0.25);
  EXPECT_EQ(w.text(),
            "# HELP sightline_events_total Events delivered\n"
            "# TYPE sightline_events_total counter\n"
            "sightline_events_total{source=\"file\",path=\"a\\\"b\\\\c\\nd\"} 42\n"
            "up 0.25\n");
}

TEST(PromText, HistogramFamilyIsCumulativeWithSumAndCount) {
  sightline::core::MetricFamily f = latency_family();
  sightline::core::MetricSeries s;
  s.labels = {{"syscall", "read"}};
  s.hist.add(500);
  s.hist.add(2000, 2);
  s.hist.add(5000000000ULL);
  f.series.push_back(s);
  PromWriter w;
  w.write(f);
  EXPECT_EQ(w.text(),
            "# HELP x_latency_seconds Latency\n"
            "# TYPE x_latency_seconds histogram\n"
            "x_latency_seconds_bucket{syscall=\"read\",le=\"1.024e-06\"} 1\n"
            "x_latency_seconds_bucket{syscall=\"read\",le=\"0.001048576\"} 3\n"
            "x_latency_seconds_bucket{syscall=\"read\",le=\"+Inf\"} 4\n"
            "x_latency_seconds_sum{syscall=\"read\"} 5.0000045\n"
            "x_latency_seconds_count{syscall=\"read\"} 4\n");
}

TEST(PromText, OpenMetricsNamesCountersWithoutTotalAndEnds) {
  PromWriter w(true);
  w.family("sightline_events_total", "counter", "Events \"seen\"");
  w.sample("sightline_events_total", {{"source", "file"}}, 3);
  w.family("sightline_up", "gauge", "Up");
  w.sample("sightline_up", 1);
  EXPECT_EQ(w.finish(),
            "# HELP sightline_events Events \\\"seen\\\"\n"
            "# TYPE sightline_events counter\n"
            "sightline_events_total{source=\"file\"} 3\n"
            "# HELP sightline_up Up\n"
            "# TYPE sightline_up gauge\n"
            "sightline_up 1\n"
            "# EOF\n");
  EXPECT_STREQ(w.content_type(), "application/openmetrics-text; version=1.0.0; charset=utf-8");
  EXPECT_STREQ(PromWriter().content_type(), "text/plain; version=0.0.4; charset=utf-8");
}

// OpenMetrics: each bucket carries the newest exemplar whose value falls in it (below its `le`,
// not below the one before); the classic text format has no exemplars.
TEST(PromText, OpenMetricsExemplarsOnTheirBuckets) {
  sightline::core::MetricFamily f = latency_family();
  sightline::core::MetricSeries s;
  s.hist.add(2000, 2);
  s.hist.add(5000000000ULL);
  s.exemplars = {{2000, 1700000000000000000ULL, {{"proc_tid", "7"}}},
                 {3000, 1700000001500000000ULL, {{"proc_tid", "8"}}},  // newer, same bucket: wins
                 {5000000000ULL, 1700000002000000000ULL, {{"proc_tid", "9"}}}};
  f.series.push_back(s);
  PromWriter om(true);
  om.write(f);
  EXPECT_EQ(om.text(),
            "# HELP x_latency_seconds Latency\n"
            "# TYPE x_latency_seconds histogram\n"
            "x_latency_seconds_bucket{le=\"1.024e-06\"} 0\n"
            "x_latency_seconds_bucket{le=\"0.001048576\"} 2 # {proc_tid=\"8\"} 3e-06 1700000001.500\n"
            "x_latency_seconds_bucket{le=\"+Inf\"} 3 # {proc_tid=\"9\"} 5 1700000002.000\n"
            "x_latency_seconds_sum 5.000004\n"
            "x_latency_seconds_count 3\n");
  PromWriter text;
  text.write(f);
  EXPECT_EQ(text.text().find('#', text.text().find("_bucket")), std::string::npos) << "no exemplar in 0.0.4 text";
}

TEST(PromText, AcceptHeaderNegotiation) {
  // What Prometheus 2.x sends.
  EXPECT_TRUE(wants_openmetrics(
      "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,"
      "text/plain;version=0.0.4;q=0.5,*/*;q=0.1"));
  EXPECT_FALSE(wants_openmetrics(""));
  EXPECT_FALSE(wants_openmetrics("*/*"));
  EXPECT_FALSE(wants_openmetrics("text/plain;version=0.0.4"));
  EXPECT_FALSE(wants_openmetrics("application/openmetrics-text;q=0,text/plain"));
}
