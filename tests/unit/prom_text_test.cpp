// Prometheus text exposition.
#include <gtest/gtest.h>

#include "export/prom_text.h"

using namespace sightline::exporter;

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
