// packets source against the real kernel: a veth pair between this network namespace and one the
// test creates, a known number of UDP datagrams each way, and datagrams to a closed port that
// the kernel drops (reason no_socket). Both attach modes (tcx links, clsact filters), and
// nothing of ours is left attached after stop.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include "harness.h"
#include "sources/packets/packets_source.h"

using namespace sightline;
using test::Harness;

namespace {

constexpr const char* kNs = "sl-pkt-ns";
constexpr const char* kHere = "sl-pkt0";  // 10.201.7.1, in this namespace
constexpr const char* kPeerAddr = "10.201.7.2";

std::string run(const std::string& cmd) {
  std::string out;
  FILE* p = popen(("(" + cmd + ") 2>&1").c_str(), "r");
  if (!p) return "popen failed";
  char buf[512];
  while (fgets(buf, sizeof buf, p)) out += buf;
  int rc = pclose(p);
  return rc == 0 ? "" : cmd + ": " + out;
}

struct VethPair {
  VethPair() {
    run(std::string("ip link del ") + kHere + "; ip netns del " + kNs);  // a crashed run's
    for (const std::string& c :
         {std::string("ip netns add ") + kNs,
          std::string("ip link add ") + kHere + " type veth peer name sl-pkt1",
          std::string("ip link set sl-pkt1 netns ") + kNs,
          std::string("ip addr add 10.201.7.1/30 dev ") + kHere,
          std::string("ip link set ") + kHere + " up",
          std::string("ip -n ") + kNs + " addr add " + kPeerAddr + "/30 dev sl-pkt1",
          std::string("ip -n ") + kNs + " link set sl-pkt1 up"}) {
      error = run(c);
      if (!error.empty()) return;
    }
  }
  ~VethPair() { run(std::string("ip link del ") + kHere + "; ip netns del " + kNs); }
  std::string error;
};

// A UDP socket created inside the namespace (a socket keeps the namespace it was made in).
int udp_socket_in_ns(uint16_t port) {
  int self = open("/proc/self/ns/net", O_RDONLY);
  int target = open((std::string("/run/netns/") + kNs).c_str(), O_RDONLY);
  int s = -1;
  if (self >= 0 && target >= 0 && setns(target, CLONE_NEWNET) == 0) {
    s = socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    inet_pton(AF_INET, kPeerAddr, &a.sin_addr);
    if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) close(s), s = -1;
    if (setns(self, CLONE_NEWNET) != 0) abort();  // the rest of the test must be back here
  }
  if (self >= 0) close(self);
  if (target >= 0) close(target);
  return s;
}

sockaddr_in peer(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  inet_pton(AF_INET, kPeerAddr, &a.sin_addr);
  return a;
}

void exchange(bool fallback) {
  VethPair veth;
  ASSERT_EQ(veth.error, "");
  Harness h;
  sources::SourceOptions o;
  o.own_as<sources::PacketsOptions>().interfaces = {"sl-pkt*"};
  o.force_fallback_hooks = fallback;
  h.start("packets", o);

  constexpr uint16_t kEchoPort = 7777, kClosedPort = 7778;
  int echo = udp_socket_in_ns(kEchoPort);
  ASSERT_GE(echo, 0);
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  timeval tv{2, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  setsockopt(echo, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  auto dst = peer(kEchoPort);
  char buf[2048];
  auto round_trip = [&](size_t size) {
    std::string payload(size, 'p');
    ASSERT_EQ(sendto(s, payload.data(), size, 0, reinterpret_cast<sockaddr*>(&dst), sizeof dst), (ssize_t)size);
    sockaddr_in from{};
    socklen_t len = sizeof from;
    ASSERT_EQ(recvfrom(echo, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &len), (ssize_t)size);
    ASSERT_EQ(sendto(echo, buf, size, 0, reinterpret_cast<sockaddr*>(&from), len), (ssize_t)size);
    ASSERT_EQ(recv(s, buf, sizeof buf, 0), (ssize_t)size);
  };
  round_trip(1);  // resolves ARP first: only UDP below

  const core::Labels udp_out{{"interface", kHere}, {"direction", "egress"}, {"l3", "ipv4"}, {"l4", "udp"}};
  const core::Labels udp_in{{"interface", kHere}, {"direction", "ingress"}, {"l3", "ipv4"}, {"l4", "udp"}};
  const core::Labels no_socket{{"reason", "no_socket"}, {"l3", "ipv4"}};
  h.runner().collect_all();
  double out0 = h.metric("sightline_network_packets_total", udp_out);
  double in0 = h.metric("sightline_network_packets_total", udp_in);
  double bytes0 = h.metric("sightline_network_bytes_total", udp_out);
  double drops0 = std::max(0.0, h.metric("sightline_network_drops_total", no_socket));
  EXPECT_EQ(out0, 1);
  EXPECT_EQ(in0, 1);

  constexpr int kDatagrams = 200, kDropped = 40;
  constexpr size_t kSize = 300;
  for (int i = 0; i < kDatagrams; i++) {
    round_trip(kSize);
    if (::testing::Test::HasFatalFailure()) return;
  }
  auto closed = peer(kClosedPort);
  for (int i = 0; i < kDropped; i++)
    ASSERT_EQ(sendto(s, buf, 10, 0, reinterpret_cast<sockaddr*>(&closed), sizeof closed), 10);
  usleep(100 * 1000);  // the last ones cross the veth
  h.runner().collect_all();
  EXPECT_EQ(h.metric("sightline_network_packets_total", udp_out) - out0, kDatagrams + kDropped);
  EXPECT_EQ(h.metric("sightline_network_packets_total", udp_in) - in0, kDatagrams);
  // Ethernet 14 + IPv4 20 + UDP 8 + payload, as the interface sees it.
  EXPECT_EQ(h.metric("sightline_network_bytes_total", udp_out) - bytes0,
            kDatagrams * (14 + 20 + 8 + kSize) + kDropped * (14 + 20 + 8 + 10));
  EXPECT_GE(h.metric("sightline_network_drops_total", no_socket) - drops0, kDropped);
  EXPECT_EQ(h.metric("sightline_network_interfaces_attached", {{"mode", fallback ? "clsact" : "tcx"}}), 1);
  close(s);
  close(echo);

  EXPECT_EQ(run("bpftool prog show name sl_tc_ingress | grep -q ."), "");
  h.runner().stop_all();
  // A deleted TC filter releases its program after an RCU grace period: wait a little.
  bool gone = false;
  for (int i = 0; i < 50 && !gone; i++, usleep(20000))
    gone = !run("bpftool prog show name sl_tc_ingress | grep -q .").empty();
  EXPECT_TRUE(gone) << "a TC program outlived the source";
  if (fallback) {
    EXPECT_EQ(run(std::string("tc qdisc show dev ") + kHere + " | grep clsact"),
              std::string("tc qdisc show dev ") + kHere + " | grep clsact: ")
        << "the clsact qdisc the source added is still there";
  }
}

}  // namespace

TEST(PacketsSource, CountsKnownTrafficAndDropsOverTcxLinks) { exchange(false); }
TEST(PacketsSource, CountsKnownTrafficAndDropsOverClsactFilters) { exchange(true); }

namespace {
// A UDP socket on 127.0.0.1 and its port.
int udp_socket(uint16_t* port) {
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) || getsockname(s, reinterpret_cast<sockaddr*>(&a), &len))
    return -1;
  *port = ntohs(a.sin_port);
  return s;
}
}  // namespace

// Each drop as an event (tcpdrop, Hubble's dropped flows): a datagram and a SYN to closed ports
// (no_socket), a datagram a socket filter refuses (socket_filter): reason, protocol, both ends,
// the device, where the kernel freed it. Only kfree_skb is attached: no TC program.
TEST(PacketsSource, EachDropIsAnEventWithReasonAndBothEnds) {
  Harness h;
  auto o = test::self_included();
  o.kinds = {core::EventKind::kDrop};
  h.start("packets", o);
  uint16_t from = 0, closed = 0, filtered = 0;
  int tx = udp_socket(&from), gone = udp_socket(&closed), rx = udp_socket(&filtered);
  ASSERT_GE(tx, 0);
  ASSERT_GE(rx, 0);
  close(gone);  // `closed` is a port nothing listens on now
  sock_filter drop_all[] = {{0x06, 0, 0, 0}};  // BPF_RET|BPF_K 0: keep no byte
  sock_fprog prog{1, drop_all};
  ASSERT_EQ(setsockopt(rx, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog), 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  for (uint16_t port : {closed, filtered}) {
    to.sin_port = htons(port);
    ASSERT_EQ(sendto(tx, "0123456789", 10, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 10);
  }
  int tcp = socket(AF_INET, SOCK_STREAM, 0);
  to.sin_port = htons(closed);
  ASSERT_NE(connect(tcp, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);  // refused: the SYN dropped
  sockaddr_in me{};
  socklen_t len = sizeof me;
  getsockname(tcp, reinterpret_cast<sockaddr*>(&me), &len);
  uint16_t tcp_port = ntohs(me.sin_port);
  close(tcp);
  auto to_port = [&](const char* proto, uint16_t port) {
    return h.find(core::EventKind::kDrop, [=](auto& e) { return e.l4proto == proto && e.rport == port; });
  };
  ASSERT_TRUE(h.pump_until([&] {
    return !to_port("udp", closed).empty() && !to_port("udp", filtered).empty() && !to_port("tcp", closed).empty();
  })) << h.dump();
  auto u = to_port("udp", closed)[0];
  EXPECT_EQ(u.drop_reason, "no_socket");
  EXPECT_EQ(u.laddr, "127.0.0.1");
  EXPECT_EQ(u.lport, from);
  EXPECT_EQ(u.raddr, "127.0.0.1");
  EXPECT_EQ(u.path, "lo") << "the device";
  EXPECT_NE(u.drop_location.find("udp"), std::string::npos) << u.drop_location;
  auto f = to_port("udp", filtered)[0];
  EXPECT_EQ(f.drop_reason, "socket_filter");
  EXPECT_EQ(f.lport, from);
  auto t = to_port("tcp", closed)[0];
  EXPECT_EQ(t.drop_reason, "no_socket");
  EXPECT_EQ(t.lport, tcp_port);
  EXPECT_NE(t.drop_location.find("tcp"), std::string::npos) << t.drop_location;
  // No TC program was attached for this.
  h.runner().collect_all();
  EXPECT_EQ(h.metric("sightline_network_interfaces_attached", {{"mode", "tcx"}}), 0);
  close(tx);
  close(rx);
}

// Flows (Hubble's flow log) on lo: a UDP exchange is one flow from its first sender, with every
// packet and IP byte each way, named by the process owning both sockets; it ends when idle
// (flow_timeout_s). A TCP connection's flow ends closed once FIN went both ways.
TEST(PacketsSource, FlowsCountEachWayAndEnd) {
  Harness h;
  auto o = test::self_included();
  o.kinds = {core::EventKind::kFlow};
  o.own_as<sources::PacketsOptions>().flow_timeout_s = 1;
  h.start("packets", o);
  uint16_t pa = 0, pb = 0;
  int a = udp_socket(&pa), b = udp_socket(&pb);
  ASSERT_GE(a, 0);
  ASSERT_GE(b, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  char buf[200] = {};
  to.sin_port = htons(pb);
  for (int i = 0; i < 5; i++) ASSERT_EQ(sendto(a, buf, 100, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 100);
  to.sin_port = htons(pa);
  for (int i = 0; i < 3; i++) ASSERT_EQ(sendto(b, buf, 50, 0, reinterpret_cast<sockaddr*>(&to), sizeof to), 50);
  auto udp = [&](const char* state) {
    return h.find(core::EventKind::kFlow, [=](auto& e) {
      return e.flow_state == state && e.l4proto == "udp" && e.lport == pa && e.rport == pb;
    });
  };
  ASSERT_TRUE(h.pump_until([&] { return !udp("timeout").empty(); }, 10)) << h.dump();
  ASSERT_EQ(udp("new").size(), 1u) << h.dump();
  auto end = udp("timeout");
  ASSERT_EQ(end.size(), 1u);
  EXPECT_EQ(end[0].packets_sent, 5u);
  EXPECT_EQ(end[0].bytes_sent, 5u * 128) << "IP bytes: 100 + 8 + 20 each";
  EXPECT_EQ(end[0].packets_received, 3u);
  EXPECT_EQ(end[0].bytes_received, 3u * 78);
  EXPECT_EQ(end[0].laddr, "127.0.0.1");
  EXPECT_EQ(end[0].path, "lo");
  EXPECT_EQ(end[0].flow_dir, "local");
  EXPECT_EQ(end[0].src_pid, static_cast<uint32_t>(getpid())) << "both sockets are this process's";
  EXPECT_EQ(end[0].dst_pid, static_cast<uint32_t>(getpid()));
  EXPECT_EQ(end[0].pid, static_cast<uint32_t>(getpid()));
  close(a);
  close(b);

  int l = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(l, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(listen(l, 1), 0);
  getsockname(l, reinterpret_cast<sockaddr*>(&addr), &len);
  uint16_t port = ntohs(addr.sin_port);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_EQ(connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  int s = accept(l, nullptr, nullptr);
  ASSERT_GE(s, 0);
  ASSERT_EQ(write(c, buf, 200), 200);
  ASSERT_EQ(read(s, buf, sizeof buf), 200);
  close(c);
  close(s);
  close(l);
  auto tcp = [&](const char* state) {
    return h.find(core::EventKind::kFlow,
                  [=](auto& e) { return e.flow_state == state && e.l4proto == "tcp" && e.rport == port; });
  };
  ASSERT_TRUE(h.pump_until([&] { return !tcp("closed").empty(); }, 10)) << h.dump();
  auto t = tcp("closed")[0];
  EXPECT_EQ(tcp("new").size(), 1u);
  EXPECT_GE(t.packets_sent, 4u) << "SYN, ACK, data, FIN";
  EXPECT_GE(t.bytes_sent, 200u + 4 * 40);
  EXPECT_GE(t.packets_received, 2u) << "SYN-ACK, FIN";
  h.runner().collect_all();
  EXPECT_GE(h.metric("sightline_network_flows_total", {{"state", "new"}}), 2);
  EXPECT_EQ(h.metric("sightline_network_flows_lost_total", {{"what", "flows"}}), 0);
}

TEST(PacketsLabels, DropReasonsComeFromTheKernelsOwnEnum) {
  const auto& reasons = sources::drop_reasons();
  ASSERT_FALSE(reasons.empty()) << "this kernel (6.18) has enum skb_drop_reason";
  bool no_socket = false;
  for (const auto& [v, name] : reasons) no_socket |= name == "no_socket";
  EXPECT_TRUE(no_socket);
}
