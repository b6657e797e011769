// Process keys of per-process series (sources/aggregate.h) and the packets source's labels.
#include <gtest/gtest.h>

#include <cstring>

#include "sources/aggregate.h"
#include "sources/packets/packets_source.h"
#include "sightline/l7.h"
#include "sightline/net.h"

#include <sys/wait.h>
#include <unistd.h>

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

namespace {
struct SockCounts {  // sl_sock_val as DeltaTotals adds it
  uint64_t sent_bytes = 0, sent_calls = 0, recv_bytes = 0, recv_calls = 0;
  SockCounts& operator+=(const SockCounts& o) {
    sent_bytes += o.sent_bytes, sent_calls += o.sent_calls, recv_bytes += o.recv_bytes, recv_calls += o.recv_calls;
    return *this;
  }
  SockCounts operator-(const SockCounts& o) const {
    return {sent_bytes - o.sent_bytes, sent_calls - o.sent_calls, recv_bytes - o.recv_bytes, recv_calls - o.recv_calls};
  }
};
uint32_t exited_pid() {  // a process that ran and was reaped: gone
  pid_t p = fork();
  if (p == 0) _exit(0);
  waitpid(p, nullptr, 0);
  return static_cast<uint32_t>(p);
}
}  // namespace

// The kernel's slots (bpf/sock_traffic.bpf.h) as DeltaTotals reads them: deltas per slot, a
// new key in a slot counted from zero, a dead process's slot counted to its end and freed.
TEST(DeltaTotals, SlotsCountDeltasAndFreeTheSlotsOfExitedProcesses) {
  sources::DeltaTotals<sl_sock_key, SockCounts, std::string> totals(100);
  sl_sock_slot slots[4] = {};
  uint32_t live = static_cast<uint32_t>(getpid()), dead = exited_pid();
  auto name = [&](const sl_sock_key& k) { return k.tgid == live ? std::string("live") : std::string("dead"); };
  auto fold = [](const std::string&) { return std::string("over"); };
  slots[0].key = {live, 2, 6};
  slots[0].val = {100, 1, 50, 2};
  slots[2].key = {dead, 2, 17};
  slots[2].val = {7, 1, 0, 0};
  totals.read_slots(slots, 4, name, fold);
  EXPECT_EQ(totals.totals().at("live").sent_bytes, 100u);
  EXPECT_EQ(totals.totals().at("live").recv_calls, 2u);
  EXPECT_EQ(totals.totals().at("dead").sent_bytes, 7u);
  EXPECT_EQ(slots[2].key.tgid, 0u) << "a dead process's slot is freed";
  EXPECT_EQ(slots[2].val.sent_bytes, 0u) << "its value zeroed for the next key";
  EXPECT_EQ(slots[0].key.tgid, live);

  slots[0].val.sent_bytes = 130;  // the kernel counts on
  slots[2].key = {live, 10, 6};   // and a new key takes the freed slot
  slots[2].val = {5, 1, 0, 0};
  totals.read_slots(slots, 4, name, fold);
  EXPECT_EQ(totals.totals().at("live").sent_bytes, 135u) << "30 more in slot 0, 5 from slot 2's new key";
  EXPECT_EQ(totals.totals().at("dead").sent_bytes, 7u);
  totals.read_slots(slots, 4, name, fold);  // nothing moved: nothing added
  EXPECT_EQ(totals.totals().at("live").sent_bytes, 135u);
}

// Keys of two words (l7's RED slots, sightline/l7.h): a key is the pair, not its first word (one
// process's methods are keys of their own), and a freed slot's words are all zeroed.
TEST(DeltaTotals, SlotsOfTwoWordKeysAreKeyedByBoth) {
  struct Slot {
    sl_l7_red_key key;
    sources::Count val;
  };
  sources::DeltaTotals<sl_l7_red_key, sources::Count, std::string> totals(100);
  Slot slots[3] = {};
  uint32_t live = static_cast<uint32_t>(getpid()), dead = exited_pid();
  auto name = [&](const sl_l7_red_key& k) {
    return std::string(k.tgid == live ? "live " : "dead ") + std::string(k.method, strnlen(k.method, sizeof k.method));
  };
  auto fold = [](const std::string&) { return std::string("over"); };
  auto key = [](uint32_t tgid, const char* method) {
    sl_l7_red_key k{};
    k.tgid = tgid;
    k.proto = 1;
    std::memcpy(k.method, method, strlen(method));
    return k;
  };
  slots[0] = {key(live, "GET"), {5}};
  slots[1] = {key(live, "POST"), {2}};
  slots[2] = {key(dead, "GET"), {9}};
  totals.read_slots(slots, 3, name, fold);
  EXPECT_EQ(totals.totals().at("live GET").n, 5u);
  EXPECT_EQ(totals.totals().at("live POST").n, 2u);
  EXPECT_EQ(totals.totals().at("dead GET").n, 9u);
  const sl_l7_red_key zero{};
  EXPECT_EQ(std::memcmp(&slots[2].key, &zero, sizeof zero), 0) << "both words of a dead process's key freed";
  slots[0].val.n = 8;
  slots[2] = {key(live, "PUT"), {1}};  // a new key in the freed slot counts from zero
  totals.read_slots(slots, 3, name, fold);
  EXPECT_EQ(totals.totals().at("live GET").n, 8u);
  EXPECT_EQ(totals.totals().at("live PUT").n, 1u);
  EXPECT_EQ(totals.totals().at("dead GET").n, 9u);
}
