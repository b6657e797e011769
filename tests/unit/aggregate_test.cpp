// Process keys of per-process series (sources/aggregate.h) and the packets source's labels.
#include <gtest/gtest.h>

#include "sources/aggregate.h"
#include "sources/packets/packets_source.h"

using namespace sightline;
using sources::process_labels;

TEST(ProcessKey, RoundTripsToLabelsInOrderWithExtras) {
  std::string key = std::string("comm=nginx") + sources::kKeySep + "container_id=abc" + sources::kKeySep + "pid=7";
  core::Labels l = process_labels(key, {{"op", "read"}});
  ASSERT_EQ(l.size(), 4u);
  EXPECT_EQ(l[0], (std::pair<std::string, std::string>{"comm", "nginx"}));
  EXPECT_EQ(l[1], (std::pair<std::string, std::string>{"container_id", "abc"}));
  EXPECT_EQ(l[2], (std::pair<std::string, std::string>{"pid", "7"}));
  EXPECT_EQ(l[3], (std::pair<std::string, std::string>{"op", "read"}));
  EXPECT_EQ(process_labels("comm=a=b"), (core::Labels{{"comm", "a=b"}}));  // '=' in a name
  EXPECT_EQ(process_labels("container_id="), (core::Labels{{"container_id", ""}}));
}

TEST(ProcessKey, OverflowKeepsTheDimensions) {
  std::string key = std::string("comm=x") + sources::kKeySep + "pid=9";
  EXPECT_EQ(sources::overflow_key(key), std::string("comm=__overflow__") + sources::kKeySep + "pid=__overflow__");
  EXPECT_EQ(sources::overflow_key(""), "comm=__overflow__");
  EXPECT_EQ(sources::process_label(nullptr, 1), "comm=unknown");
}

TEST(PacketsLabels, ProtocolsAndInterfaceSelection) {
  EXPECT_EQ(sources::l3_label(0x0800), "ipv4");
  EXPECT_EQ(sources::l3_label(0x86DD), "ipv6");
  EXPECT_EQ(sources::l3_label(0x0806), "arp");
  EXPECT_EQ(sources::l3_label(0x1234), "other");
  EXPECT_EQ(sources::l4_label(0x0800, 17), "udp");
  EXPECT_EQ(sources::l4_label(0x86DD, 58), "icmpv6");
  EXPECT_EQ(sources::l4_label(0x0806, 6), "none");  // not IP: no transport
  EXPECT_EQ(sources::l4_label(0x0800, 200), "other");
  EXPECT_EQ(sources::drop_reason_label("SKB_DROP_REASON_NO_SOCKET"), "no_socket");
  EXPECT_EQ(sources::drop_reason_label("SKB_CONSUMED"), "skb_consumed");
  EXPECT_TRUE(sources::interface_selected({}, "eth0"));
  EXPECT_TRUE(sources::interface_selected({"lo", "veth*"}, "veth12ab"));
  EXPECT_FALSE(sources::interface_selected({"lo", "veth*"}, "eth0"));
  EXPECT_FALSE(sources::interface_selected({"eth"}, "eth0"));
}
