// security source against the real kernel: connect/accept/dup2 described by the socket their fd
// names (both ends, protocol), the kernel-side filters (non-IP sockets, dup onto other fds,
// plain forks), clones into new namespaces, and syscalls turned on and off while attached.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/if_ether.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <string>

#include "harness.h"
#include "sources/security/security_source.h"

using namespace sightline;
using core::EventKind;
using test::Harness;

namespace {

sockaddr_in loopback(uint16_t port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  return a;
}

uint16_t port_of(int fd) {
  sockaddr_in a{};
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

sources::SourceOptions only(std::vector<std::string> syscalls) {
  sources::SourceOptions o;
  o.filter.pid = static_cast<uint32_t>(getpid());
  o.filter.exclude_self = false;
  o.own_as<sources::SecurityOptions>().syscalls = std::move(syscalls);
  o.own_as<sources::SecurityOptions>().attach_all_syscalls = true;
  return o;
}

}  // namespace

TEST(SecuritySource, SocketsAreDescribedByTheirEnds) {
  Harness h;
  h.start("security", only({"connect", "accept4", "dup2", "dup3"}));
  int srv = socket(AF_INET, SOCK_STREAM, 0);
  auto a = loopback(0);
  ASSERT_EQ(bind(srv, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(listen(srv, 4), 0);
  uint16_t port = port_of(srv);
  int c = socket(AF_INET, SOCK_STREAM, 0);
  a = loopback(port);
  ASSERT_EQ(connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  uint16_t cport = port_of(c);
  int acc = accept4(srv, nullptr, nullptr, SOCK_CLOEXEC);
  ASSERT_GE(acc, 0);
  // UDP connect: a connected datagram socket.
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  a = loopback(53);
  ASSERT_EQ(connect(u, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  // Not sent (filtered in the kernel): a unix connect; dup2 of a socket onto fd 40.
  int un[2];
  ASSERT_EQ(socketpair(AF_UNIX, SOCK_STREAM, 0, un), 0);
  ASSERT_EQ(dup2(c, 40), 40);
  // Sent: the TCP socket, then a unix socket, put on stdin (saved and put back: not a socket).
  int saved = dup(0);
  ASSERT_EQ(dup2(c, 0), 0);
  ASSERT_EQ(dup3(un[0], 0, 0), 0);
  ASSERT_EQ(dup2(saved, 0), 0);

  auto calls = [&](const std::string& name) {
    return h.find(EventKind::kSyscall, [&](const test::Recorded& r) { return r.sys_name == name; });
  };
  ASSERT_TRUE(h.pump_until([&] { return calls("dup3").size() >= 1 && calls("dup2").size() >= 1; })) << h.dump();
  auto conns = calls("connect");
  ASSERT_EQ(conns.size(), 2u) << h.dump();
  EXPECT_EQ(conns[0].fd_num, c);
  EXPECT_EQ(conns[0].fd_type, "ipv4");
  EXPECT_EQ(conns[0].l4proto, "tcp");
  EXPECT_EQ(conns[0].raddr, "127.0.0.1");
  EXPECT_EQ(conns[0].rport, port);
  EXPECT_EQ(conns[0].lport, cport);
  EXPECT_EQ(conns[0].ret, 0);
  EXPECT_EQ(conns[1].l4proto, "udp");
  EXPECT_EQ(conns[1].rport, 53);
  auto accs = calls("accept4");
  ASSERT_EQ(accs.size(), 1u) << h.dump();
  EXPECT_EQ(accs[0].fd_num, acc);
  EXPECT_EQ(accs[0].lport, port);
  EXPECT_EQ(accs[0].rport, cport) << "the peer is the connecting socket";
  auto dups = calls("dup2");
  ASSERT_EQ(dups.size(), 1u) << "only the socket onto fd 0: " << h.dump();
  EXPECT_EQ(dups[0].fd_num, 0);
  EXPECT_EQ(dups[0].fd_type, "ipv4");
  EXPECT_EQ(dups[0].rport, port);
  auto d3 = calls("dup3");
  ASSERT_EQ(d3.size(), 1u);
  EXPECT_EQ(d3[0].fd_type, "unix");
  EXPECT_EQ(d3[0].raddr, "");
  for (int fd : {srv, c, acc, u, un[0], un[1], saved, 40}) close(fd);
}

TEST(SecuritySource, ClonesIntoNewNamespacesOnlyAndRetune) {
  Harness h;
  h.start("security", only({"clone"}));
  auto clone_now = [](unsigned long flags) {
    long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
    if (pid == 0) _exit(0);
    waitpid(static_cast<pid_t>(pid), nullptr, 0);
    return pid;
  };
  clone_now(0);                   // a plain fork: not sent
  long ns = clone_now(CLONE_NEWUTS);
  ASSERT_GT(ns, 0);
  auto clones = [&] {
    return h.find(EventKind::kSyscall, [](const test::Recorded& r) { return r.sys_name == "clone"; });
  };
  ASSERT_TRUE(h.pump_until([&] { return !clones().empty(); })) << h.dump();
  // Connect is attached but off: nothing; turned on with no new attachment: sent.
  int u = socket(AF_INET, SOCK_DGRAM, 0);
  auto a = loopback(9);
  ASSERT_EQ(connect(u, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  for (const auto& s : h.runner().sources())
    if (s.name == "security") {
      sources::SourceOptions o;
      o.own_as<sources::SecurityOptions>().syscalls = std::vector<std::string>{"clone", "connect"};
      ASSERT_TRUE(s.source->retune(o).ok());
    }
  ASSERT_EQ(connect(u, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  auto conns = [&] {
    return h.find(EventKind::kSyscall, [](const test::Recorded& r) { return r.sys_name == "connect"; });
  };
  ASSERT_TRUE(h.pump_until([&] { return !conns().empty(); })) << h.dump();
  close(u);
  auto c = clones();
  ASSERT_EQ(c.size(), 1u) << "the plain fork and the child's return are not sent: " << h.dump();
  EXPECT_EQ(c[0].ret, ns);
  EXPECT_EQ(c[0].ns_flags, "CLONE_NEWUTS");
  EXPECT_EQ(conns().size(), 1u) << "the connect before retune was not sent";
}

// Falco's rules on links and packet sockets: symlink, symlinkat, link, linkat with both paths;
// socket only for AF_PACKET (every other domain is dropped in the kernel).
TEST(SecuritySource, LinksAndPacketSockets) {
  Harness h;
  h.start("security", only({"symlink", "symlinkat", "link", "linkat", "socket"}));
  char dir[] = "/tmp/sl-links-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  std::string d = dir;
  ASSERT_EQ(symlink("/etc/shadow", (d + "/s1").c_str()), 0);
  ASSERT_EQ(symlinkat("/etc/passwd", AT_FDCWD, (d + "/s2").c_str()), 0);
  ASSERT_EQ(syscall(SYS_link, (d + "/s1").c_str(), (d + "/h1").c_str()), 0);  // a hard link to the symlink
  ASSERT_EQ(linkat(AT_FDCWD, (d + "/s2").c_str(), AT_FDCWD, (d + "/h2").c_str(), 0), 0);
  int inet = socket(AF_INET, SOCK_DGRAM, 0);
  int pkt = socket(AF_PACKET, SOCK_RAW, 0);
  ASSERT_GE(pkt, 0) << strerror(errno);
  auto calls = [&](const std::string& name) {
    return h.find(EventKind::kSyscall, [&](const test::Recorded& r) { return r.sys_name == name; });
  };
  ASSERT_TRUE(h.pump_until([&] { return calls("socket").size() >= 1 && calls("linkat").size() >= 1; })) << h.dump();
  auto s1 = calls("symlink");
  ASSERT_EQ(s1.size(), 1u) << h.dump();
  EXPECT_EQ(s1[0].path, "/etc/shadow");
  EXPECT_EQ(s1[0].path2, d + "/s1");
  auto s2 = calls("symlinkat");
  ASSERT_EQ(s2.size(), 1u) << h.dump();
  EXPECT_EQ(s2[0].path, "/etc/passwd");
  EXPECT_EQ(s2[0].path2, d + "/s2");
  auto l1 = calls("link");
  ASSERT_EQ(l1.size(), 1u) << h.dump();
  EXPECT_EQ(l1[0].path, d + "/s1");
  EXPECT_EQ(l1[0].path2, d + "/h1");
  auto l2 = calls("linkat");
  ASSERT_EQ(l2.size(), 1u) << h.dump();
  EXPECT_EQ(l2[0].path, d + "/s2");
  EXPECT_EQ(l2[0].path2, d + "/h2");
  auto socks = calls("socket");
  ASSERT_EQ(socks.size(), 1u) << "only the AF_PACKET one: " << h.dump();
  EXPECT_EQ(socks[0].sys_arg1, static_cast<uint64_t>(AF_PACKET));
  EXPECT_EQ(socks[0].fd_num, pkt);
  EXPECT_EQ(socks[0].fd_type, "packet");
  close(inet);
  close(pkt);
  for (const char* f : {"/s1", "/s2", "/h1", "/h2"}) unlink((d + f).c_str());
  rmdir(dir);
}
