// net source against the real kernel: TCP connections on 127.0.0.1 with known byte counts, and
// a connect to a closed port.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "harness.h"
#include "sightline/net.h"

using namespace sightline;
using core::EventKind;
using test::Harness;

namespace {

int listener(uint16_t* port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) || listen(s, 8)) return -1;
  socklen_t len = sizeof a;
  getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return s;
}

int connect_to(uint16_t port) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(s);
    return -1;
  }
  return s;
}

bool send_all(int fd, size_t n) {
  std::string buf(n, 'x');
  size_t done = 0;
  while (done < n) {
    ssize_t w = write(fd, buf.data() + done, n - done);
    if (w <= 0) return false;
    done += static_cast<size_t>(w);
  }
  return true;
}

size_t recv_all(int fd, size_t n) {
  char buf[4096];
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf, std::min(sizeof buf, n - got));
    if (r <= 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

}  // namespace

TEST(NetSource, ConnectionLifecycleWithExactBytes) {
  Harness h;
  h.start("net", test::self_included());
  uint16_t port = 0;
  int ls = listener(&port);
  ASSERT_GE(ls, 0);
  constexpr size_t kUp = 12345, kDown = 678;
  pid_t client = fork();
  if (client == 0) {
    prctl(PR_SET_NAME, "sl-tcp-client");
    int s = connect_to(port);
    if (s < 0 || !send_all(s, kUp) || recv_all(s, kDown) != kDown) _exit(1);
    close(s);
    _exit(0);
  }
  int c = accept(ls, nullptr, nullptr);
  ASSERT_GE(c, 0);
  ASSERT_EQ(recv_all(c, kUp), kUp);
  ASSERT_TRUE(send_all(c, kDown));
  int st = 0;
  waitpid(client, &st, 0);
  ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  close(c);
  close(ls);
  ASSERT_TRUE(h.pump_until([&] {
    return h.find(EventKind::kTcp, [&](auto& e) { return e.comm == "sl-tcp-client"; }).size() == 1 &&
           h.find(EventKind::kTcp, [&](auto& e) { return e.pid == (uint32_t)getpid(); }).size() == 1;
  })) << h.dump();
  auto cl = h.find(EventKind::kTcp, [&](auto& e) { return e.comm == "sl-tcp-client"; })[0];
  EXPECT_EQ(cl.pid, (uint32_t)client);
  EXPECT_EQ(cl.path, "client");  // the Recorder keeps a tcp event's role in path
  EXPECT_EQ(cl.bytes_sent, kUp);
  EXPECT_EQ(cl.bytes_received, kDown);
  EXPECT_EQ(cl.rport, port);
  EXPECT_EQ(cl.raddr, "127.0.0.1");
  EXPECT_GT(cl.connect_ns, 0u);
  EXPECT_GT(cl.duration_ns, 0u);
  EXPECT_EQ(cl.ret, 0);
  auto sv = h.find(EventKind::kTcp, [&](auto& e) { return e.pid == (uint32_t)getpid(); })[0];
  EXPECT_EQ(sv.path, "server") << h.dump();
  EXPECT_EQ(sv.lport, port);
  EXPECT_EQ(sv.bytes_received, kUp);
  EXPECT_EQ(sv.bytes_sent, kDown);

  h.runner().collect_all();
  EXPECT_EQ(h.metric("sightline_tcp_connections_total", {{"comm", "sl-tcp-client"}, {"role", "client"}, {"result", "ok"}}), 1);
  EXPECT_EQ(h.metric("sightline_tcp_bytes_total", {{"comm", "sl-tcp-client"}, {"direction", "sent"}}), kUp);
  // Per peer: the client by the server's address and port, the server by its own port.
  const std::string p = std::to_string(port);
  EXPECT_EQ(h.metric("sightline_tcp_peer_connections_total",
                     {{"comm", "sl-tcp-client"}, {"role", "client"}, {"peer", "127.0.0.1"}, {"port", p}}),
            1);
  EXPECT_EQ(h.metric("sightline_tcp_peer_bytes_total",
                     {{"role", "server"}, {"port", p}, {"direction", "received"}}),
            kUp);
  EXPECT_GE(h.metric("sightline_tcp_state_transitions_total", {{"from", "syn_sent"}, {"to", "established"}}), 1);
  EXPECT_GE(h.metric("sightline_tcp_state_transitions_total", {{"from", "syn_recv"}, {"to", "established"}}), 1);
  // No kinds named (the agent's case): connect and accept only with sources.net.handshakes.
  EXPECT_TRUE(h.find(EventKind::kConnect, [](auto&) { return true; }).empty()) << h.dump();
  EXPECT_TRUE(h.find(EventKind::kAccept, [](auto&) { return true; }).empty()) << h.dump();
}

// connect and accept as they happen (tcpconnect, tcpconnlat, tcpaccept): a child connects, this
// process accepts 50 ms later; then a connect to a closed port. Both ends, owners, the connect
// latency, the wait in the listen queue, the fd, the refusal.
TEST(NetSource, ConnectAndAcceptAsTheyHappen) {
  Harness h;
  auto o = test::self_included();
  o.kinds = {EventKind::kConnect, EventKind::kAccept};
  h.start("net", o);
  uint16_t port = 0;
  int ls = listener(&port);
  ASSERT_GE(ls, 0);
  int pipefd[2];
  ASSERT_EQ(pipe(pipefd), 0);
  pid_t client = fork();
  if (client == 0) {
    prctl(PR_SET_NAME, "sl-conn-client");
    int s = connect_to(port);
    if (s < 0) _exit(1);
    sockaddr_in me{};
    socklen_t len = sizeof me;
    getsockname(s, reinterpret_cast<sockaddr*>(&me), &len);
    uint16_t lport = ntohs(me.sin_port);
    if (write(pipefd[1], &lport, sizeof lport) != sizeof lport) _exit(1);
    char b;
    (void)!read(s, &b, 1);  // until the server closes
    _exit(0);
  }
  close(pipefd[1]);
  uint16_t client_port = 0;
  ASSERT_EQ(read(pipefd[0], &client_port, sizeof client_port), (ssize_t)sizeof client_port);
  close(pipefd[0]);
  usleep(50 * 1000);  // the connection waits in the listen queue
  int c = accept(ls, nullptr, nullptr);
  ASSERT_GE(c, 0);
  close(c);
  waitpid(client, nullptr, 0);
  close(ls);
  ASSERT_LT(connect_to(port), 0);  // the port is closed now

  auto connects = [&] { return h.find(EventKind::kConnect, [&](auto& e) { return e.rport == port; }); };
  auto accepts = [&] { return h.find(EventKind::kAccept, [&](auto& e) { return e.lport == port; }); };
  ASSERT_TRUE(h.pump_until([&] { return connects().size() == 2 && accepts().size() == 1; })) << h.dump();
  // By result, not order: perf buffers (no ring buffer) deliver each CPU's events apart.
  auto ok = connects()[0], refused = connects()[1];
  if (ok.ret != 0) std::swap(ok, refused);
  EXPECT_EQ(ok.pid, (uint32_t)client);
  EXPECT_EQ(ok.comm, "sl-conn-client");
  EXPECT_EQ(ok.ret, 0);
  EXPECT_EQ(ok.lport, client_port);
  EXPECT_EQ(ok.laddr, "127.0.0.1");
  EXPECT_EQ(ok.raddr, "127.0.0.1");
  EXPECT_GT(ok.connect_ns, 0u);
  EXPECT_LT(ok.connect_ns, 1000000000u);
  EXPECT_EQ(refused.pid, (uint32_t)getpid());
  EXPECT_EQ(refused.ret, -ECONNREFUSED);
  EXPECT_EQ(refused.connect_ns, 0u);
  EXPECT_GT(refused.lport, 0) << "the port it had, released by the close";
  auto a = accepts()[0];
  EXPECT_EQ(a.pid, (uint32_t)getpid());
  EXPECT_EQ(a.rport, client_port);
  EXPECT_EQ(a.fd_num, c);
  EXPECT_GE(a.duration_ns, 40u * 1000 * 1000) << "the wait in the listen queue";
  EXPECT_LT(a.duration_ns, 5000u * 1000 * 1000);
  // Only the kinds asked for: no tcp records at close.
  EXPECT_TRUE(h.find(EventKind::kTcp, [](auto&) { return true; }).empty()) << h.dump();
}

// A listener whose accept queue is full drops new SYNs: the client retransmits its SYN after
// the initial RTO (1 s), counted live, before any connection closes.
TEST(NetSource, RetransmissionsAreCountedAsTheyHappen) {
  Harness h;
  h.start("net", test::self_included());
  uint16_t port = 0;
  int ls = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(ls, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(ls, 0), 0);
  socklen_t len = sizeof a;
  getsockname(ls, reinterpret_cast<sockaddr*>(&a), &len);
  port = ntohs(a.sin_port);
  h.runner().collect_all();
  double before = h.metric("sightline_tcp_retransmitted_segments_total", {});
  ASSERT_GE(before, 0);
  int first = connect_to(port);  // fills the accept queue (never accepted)
  ASSERT_GE(first, 0);
  int second = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
  a.sin_port = htons(port);
  connect(second, reinterpret_cast<sockaddr*>(&a), sizeof a);  // EINPROGRESS: its SYN is dropped
  bool seen = false;
  for (int i = 0; i < 40 && !seen; i++) {
    usleep(100 * 1000);
    h.runner().collect_all();
    seen = h.metric("sightline_tcp_retransmitted_segments_total", {}) > before;
  }
  EXPECT_TRUE(seen) << "no retransmission counted within 4 s";
  // The retransmit event (tcpretrans): the SYN again, owned by the connecting process.
  ASSERT_TRUE(h.pump_until([&] {
    return !h.find(EventKind::kRetransmit, [&](auto& e) { return e.rport == port; }).empty();
  })) << h.dump();
  auto r = h.find(EventKind::kRetransmit, [&](auto& e) { return e.rport == port; })[0];
  EXPECT_EQ(r.pid, (uint32_t)getpid());
  EXPECT_EQ(r.tcp_state, 2) << "SYN_SENT";
  EXPECT_EQ(r.raddr, "127.0.0.1");
  EXPECT_GE(r.retransmits, 1u);
  close(second);
  close(first);
  close(ls);
}

TEST(NetSource, ConnectToAClosedPortIsAFailedConnectWithReset) {
  Harness h;
  h.start("net", test::self_included());
  uint16_t port = 0;
  int ls = listener(&port);
  close(ls);  // the port is now closed
  ASSERT_LT(connect_to(port), 0);
  ASSERT_TRUE(h.pump_until([&] {
    return !h.find(EventKind::kTcp, [&](auto& e) { return e.rport == port; }).empty();
  })) << h.dump();
  auto e = h.find(EventKind::kTcp, [&](auto& e) { return e.rport == port; })[0];
  EXPECT_EQ(e.ret, -ECONNREFUSED);
  EXPECT_TRUE(e.truncated) << "reset flag";
  EXPECT_EQ(e.connect_ns, 0u);
  EXPECT_EQ(e.pid, (uint32_t)getpid());
  h.runner().collect_all();
  EXPECT_EQ(h.metric("sightline_tcp_connections_total", {{"role", "client"}, {"result", "failed"}}), 1);
}

// UDP: a child sends a known number of datagrams of a known size; the parent receives them all.
// Per-process socket counters must match exactly, both ways.
namespace {
// A UDP socket on 127.0.0.1 (its address in *a) with room for every datagram a test sends; -1
// if it cannot bind.
int udp_receiver(sockaddr_in* a) {
  int rx = socket(AF_INET, SOCK_DGRAM, 0);
  *a = {};
  a->sin_family = AF_INET;
  a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof *a;
  if (bind(rx, reinterpret_cast<sockaddr*>(a), sizeof *a) != 0 || getsockname(rx, reinterpret_cast<sockaddr*>(a), &len) != 0) {
    close(rx);
    return -1;
  }
  int buf = 1 << 20;
  setsockopt(rx, SOL_SOCKET, SO_RCVBUF, &buf, sizeof buf);
  return rx;
}

// 250 datagrams of 333 bytes from a child named sl-udp-send to this process: each side's
// messages and bytes counted exactly, under its own name.
void udp_traffic_is_exact(Harness& h) {
  constexpr int kDatagrams = 250;
  constexpr size_t kSize = 333;
  sockaddr_in a{};
  int rx = udp_receiver(&a);
  ASSERT_GE(rx, 0);
  int done[2], go[2];
  ASSERT_EQ(pipe(done), 0);
  ASSERT_EQ(pipe(go), 0);
  pid_t child = fork();
  if (child == 0) {
    prctl(PR_SET_NAME, "sl-udp-send");
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    std::string payload(kSize, 'u');
    for (int i = 0; i < kDatagrams; i++)
      if (sendto(s, payload.data(), payload.size(), 0, reinterpret_cast<sockaddr*>(&a), sizeof a) !=
          (ssize_t)kSize)
        _exit(1);
    char c = 0;
    if (write(done[1], &c, 1) != 1 || read(go[0], &c, 1) != 1) _exit(1);  // alive until collected
    _exit(0);
  }
  char c;
  ASSERT_EQ(read(done[0], &c, 1), 1);
  char data[2048];
  int got = 0;
  for (; got < kDatagrams; got++) {
    ssize_t r = recv(rx, data, sizeof data, MSG_DONTWAIT);
    if (r < 0) break;
    ASSERT_EQ(r, (ssize_t)kSize);
  }
  ASSERT_EQ(got, kDatagrams);
  h.runner().collect_all();
  const core::Labels sent{{"comm", "sl-udp-send"}, {"protocol", "udp"}, {"direction", "sent"}};
  EXPECT_EQ(h.metric("sightline_socket_messages_total", sent), kDatagrams);
  EXPECT_EQ(h.metric("sightline_socket_bytes_total", sent), kDatagrams * kSize);
  // This process received them (its name is the test binary's).
  std::string self;
  {
    FILE* f = fopen("/proc/self/comm", "r");
    char n[32] = {};
    if (f && fgets(n, sizeof n, f)) self = std::string(n, strcspn(n, "\n"));
    if (f) fclose(f);
  }
  const core::Labels recvd{{"comm", self}, {"protocol", "udp"}, {"direction", "received"}};
  EXPECT_EQ(h.metric("sightline_socket_messages_total", recvd), kDatagrams);
  EXPECT_EQ(h.metric("sightline_socket_bytes_total", recvd), kDatagrams * kSize);
  ASSERT_EQ(write(go[1], &c, 1), 1);
  int st = 0;
  waitpid(child, &st, 0);
  EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  close(rx);
}
}  // namespace

TEST(NetSource, UdpDatagramsAndBytesPerProcess) {
  Harness h;
  h.start("net", test::self_included());
  udp_traffic_is_exact(h);
}

// With l7 running on the socket tracepoints (6.3+, bpf_task_pt_regs), its programs count net's
// traffic into net's map and net loads no program of its own there; on the fallback paths
// (tests/e2e/fallbacks.sh) net counts by itself. Either way every datagram is counted once.
TEST(NetSource, SocketTrafficCountedOnceBesideL7) {
  Harness h;
  const auto& f = h.runner().features();
  auto l7 = test::self_included();
  l7.count_sock_traffic = true;
  if (f.ringbuf) h.start("l7", l7);  // l7 needs the ring buffer
  h.start("net", test::self_included());
  bool sock_tp = f.tracepoint_exists("sock", "sock_send_length");  // 6.3+: else no socket traffic at all
  bool shares = f.ringbuf && f.tp_btf && f.task_pt_regs && sock_tp;
  int shared = -1;
  const sources::Source* net = nullptr;
  for (const auto& s : h.runner().sources()) {
    if (s.name == "l7") shared = s.source->shared_map_fd("sock_traffic");
    if (s.name == "net") net = s.source.get();
  }
  ASSERT_NE(net, nullptr);
  EXPECT_EQ(shared >= 0, shares) << "l7 counts net's traffic exactly where it runs on the socket tracepoints";
  size_t own = 0;
  for (const auto& p : net->program_stats()) own += p.name.starts_with("sl_sock_");
  EXPECT_EQ(own, shares || !sock_tp ? 0u : 2u) << "net's own socket programs, beside l7's";
  udp_traffic_is_exact(h);
}

// Two processes whose keys share one CPU's slot (bpf/sock_traffic.bpf.h): the first takes it,
// the second counts in the hash behind it; each is counted exactly under its own name, and
// nothing more once they exit and the slot is freed.
TEST(NetSource, TwoProcessesOfOneSlotAreCountedApart) {
  Harness h;
  const auto& f = h.runner().features();
  if (!f.tracepoint_exists("sock", "sock_send_length") || !f.tp_btf) GTEST_SKIP() << "no socket traffic before 6.3";
  cpu_set_t one;
  CPU_ZERO(&one);
  CPU_SET(0, &one);
  cpu_set_t before;
  ASSERT_EQ(sched_getaffinity(0, sizeof before, &before), 0);
  ASSERT_EQ(sched_setaffinity(0, sizeof one, &one), 0);  // the children's slots are CPU 0's
  h.start("net", test::self_included());
  constexpr int kDatagrams = 120;
  constexpr size_t kSize = 111;
  sockaddr_in a{};
  int rx = udp_receiver(&a);
  ASSERT_GE(rx, 0);
  struct Child {
    pid_t pid = -1;
    int go[2] = {-1, -1}, done[2] = {-1, -1};
  };
  // A child that, told to, sends kDatagrams under `name`, says so and waits to be told to exit.
  auto spawn = [&](const char* name) {
    Child c;
    if (pipe(c.go) != 0 || pipe(c.done) != 0) return c;
    c.pid = fork();
    if (c.pid == 0) {
      prctl(PR_SET_NAME, name);
      char b = 0;
      if (read(c.go[0], &b, 1) != 1) _exit(1);
      int s = socket(AF_INET, SOCK_DGRAM, 0);
      std::string payload(kSize, 's');
      for (int i = 0; i < kDatagrams; i++)
        if (sendto(s, payload.data(), payload.size(), 0, reinterpret_cast<const sockaddr*>(&a), sizeof a) != (ssize_t)kSize)
          _exit(1);
      if (write(c.done[1], &b, 1) != 1 || read(c.go[0], &b, 1) != 1) _exit(1);
      _exit(0);
    }
    return c;
  };
  auto slot = [](pid_t p) {
    sl_sock_key k{static_cast<uint32_t>(p), AF_INET, IPPROTO_UDP};
    return sl_sock_slot_of(0, &k);
  };
  auto end = [](Child& c) {
    kill(c.pid, SIGKILL);
    waitpid(c.pid, nullptr, 0);
    for (int fd : {c.go[0], c.go[1], c.done[0], c.done[1]}) close(fd);
  };
  Child first = spawn("sl-slot-first");
  ASSERT_GT(first.pid, 0);
  Child second;
  for (int tries = 0; tries < 4000 && second.pid < 0; tries++) {  // 1 in SL_NET_SOCK_SLOTS shares its slot
    Child c = spawn("sl-slot-second");
    ASSERT_GT(c.pid, 0);
    if (slot(c.pid) == slot(first.pid))
      second = c;
    else
      end(c);
  }
  ASSERT_GT(second.pid, 0) << "no child's key fell in the first's slot";
  char b = 0;
  for (Child* c : {&first, &second}) {  // in turn: the first takes the slot
    ASSERT_EQ(write(c->go[1], &b, 1), 1);
    ASSERT_EQ(read(c->done[0], &b, 1), 1);
  }
  char data[2048];
  for (int i = 0; i < 2 * kDatagrams; i++) ASSERT_EQ(recv(rx, data, sizeof data, MSG_DONTWAIT), (ssize_t)kSize);
  h.runner().collect_all();
  for (const char* name : {"sl-slot-first", "sl-slot-second"}) {
    const core::Labels sent{{"comm", name}, {"protocol", "udp"}, {"direction", "sent"}};
    EXPECT_EQ(h.metric("sightline_socket_messages_total", sent), kDatagrams) << name;
    EXPECT_EQ(h.metric("sightline_socket_bytes_total", sent), kDatagrams * kSize) << name;
  }
  end(first);
  end(second);
  h.runner().collect_all();  // their slot freed, their hash entry deleted
  h.runner().collect_all();
  for (const char* name : {"sl-slot-first", "sl-slot-second"}) {
    const core::Labels sent{{"comm", name}, {"protocol", "udp"}, {"direction", "sent"}};
    EXPECT_EQ(h.metric("sightline_socket_bytes_total", sent), kDatagrams * kSize) << name << " after its exit";
  }
  close(rx);
  sched_setaffinity(0, sizeof before, &before);
}
