// Owners of local IP sockets from /proc (local_sockets.h).
#include "sources/packets/local_sockets.h"

#include <dirent.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

#include "core/files.h"

namespace sightline::sources {
namespace {

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

// "0100007F:1F90": the address as the kernel's 32-bit words in host order (x86: each word's
// bytes reversed in the text), the port in hex.
bool parse_endpoint(std::string_view t, bool v6, std::array<uint8_t, 16>& addr, uint16_t& port) {
  size_t digits = v6 ? 32 : 8;
  if (t.size() < digits + 2 || t[digits] != ':') return false;
  addr.fill(0);
  for (size_t w = 0; w < digits / 8; w++) {
    uint32_t word = 0;
    for (size_t i = 0; i < 8; i++) {
      int h = hex(t[w * 8 + i]);
      if (h < 0) return false;
      word = word << 4 | static_cast<uint32_t>(h);
    }
    memcpy(&addr[w * 4], &word, 4);  // back to the kernel's memory order
  }
  uint32_t p = 0;
  std::string_view ps = t.substr(digits + 1);
  if (ps.empty() || ps.size() > 4) return false;
  for (char c : ps) {
    int h = hex(c);
    if (h < 0) return false;
    p = p << 4 | static_cast<uint32_t>(h);
  }
  port = static_cast<uint16_t>(p);
  return true;
}

bool zero(const uint8_t* a, size_t n) {
  for (size_t i = 0; i < n; i++)
    if (a[i]) return false;
  return true;
}


}  // namespace

std::vector<ProcNetSocket> parse_proc_net(std::string_view text, bool v6) {
  std::vector<ProcNetSocket> out;
  size_t pos = text.find('\n');  // the header row
  while (pos != std::string_view::npos && pos < text.size()) {
    size_t end = text.find('\n', pos + 1);
    std::string_view line = text.substr(pos + 1, end == std::string_view::npos ? std::string_view::npos : end - pos - 1);
    pos = end;
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    std::string_view f[10];
    size_t n = 0, i = 0;
    while (n < 10 && i < line.size()) {
      while (i < line.size() && line[i] == ' ') i++;
      size_t j = i;
      while (j < line.size() && line[j] != ' ') j++;
      if (j > i) f[n++] = line.substr(i, j - i);
      i = j;
    }
    if (n < 10) continue;
    ProcNetSocket s;
    if (!parse_endpoint(f[1], v6, s.laddr, s.lport) || !parse_endpoint(f[2], v6, s.raddr, s.rport)) continue;
    if (f[3].size() != 2 || hex(f[3][0]) < 0 || hex(f[3][1]) < 0) continue;
    s.state = static_cast<uint8_t>(hex(f[3][0]) << 4 | hex(f[3][1]));
    uint64_t inode = 0;
    bool ok = !f[9].empty();
    for (char c : f[9]) {
      if (c < '0' || c > '9') ok = false;
      inode = inode * 10 + static_cast<uint64_t>(c - '0');
    }
    if (!ok) continue;
    s.inode = inode;
    out.push_back(s);
  }
  return out;
}

const SocketOwner& LocalSockets::info(uint32_t pid) const {
  static const SocketOwner kNone;
  auto it = owners_.find(pid);
  return it == owners_.end() ? kNone : it->second;
}

void LocalSockets::refresh() {
  by_port_.clear();
  owners_.clear();
  addrs_.clear();
  count_ = 0;
  ifaddrs* ifs = nullptr;
  if (getifaddrs(&ifs) == 0) {
    for (ifaddrs* i = ifs; i; i = i->ifa_next) {
      if (!i->ifa_addr) continue;
      std::array<uint8_t, 16> a{};
      if (i->ifa_addr->sa_family == AF_INET)
        memcpy(a.data(), &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, 4);
      else if (i->ifa_addr->sa_family == AF_INET6)
        memcpy(a.data(), &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr, 16);
      else
        continue;
      addrs_.push_back(a);
    }
    freeifaddrs(ifs);
  }
  std::unordered_map<uint64_t, Entry*> by_inode;
  struct Table {
    const char* path;
    uint8_t l4, family;
  };
  for (const Table& t : {Table{"/proc/net/tcp", 6, 2}, Table{"/proc/net/tcp6", 6, 10}, Table{"/proc/net/udp", 17, 2},
                         Table{"/proc/net/udp6", 17, 10}}) {
    for (const auto& s : parse_proc_net(core::read_file(t.path), t.family == 10)) {
      if (!s.inode) continue;  // TIME_WAIT and the like: no owner
      auto& v = by_port_[static_cast<uint32_t>(t.l4) << 16 | s.lport];
      v.push_back({s, t.family, 0});
      count_++;
    }
  }
  for (auto& [k, v] : by_port_)
    for (auto& e : v) by_inode[e.s.inode] = &e;
  if (by_inode.empty()) return;
  DIR* proc = opendir("/proc");
  if (!proc) return;
  char link[64];
  while (dirent* d = readdir(proc)) {
    if (d->d_name[0] < '1' || d->d_name[0] > '9') continue;
    uint32_t pid = static_cast<uint32_t>(strtoul(d->d_name, nullptr, 10));
    std::string dir = std::string("/proc/") + d->d_name + "/fd";
    DIR* fds = opendir(dir.c_str());
    if (!fds) continue;
    while (dirent* f = readdir(fds)) {
      if (f->d_name[0] == '.') continue;
      ssize_t n = readlinkat(dirfd(fds), f->d_name, link, sizeof link - 1);
      if (n < 10 || memcmp(link, "socket:[", 8) != 0) continue;
      link[n] = 0;
      auto it = by_inode.find(strtoull(link + 8, nullptr, 10));
      if (it != by_inode.end() && !it->second->pid) it->second->pid = pid;  // the lowest pid: the parent of a prefork
      if (it != by_inode.end() && !owners_.count(pid)) {
        SocketOwner o;
        o.pid = pid;
        struct stat st;
        if (stat(("/proc/" + std::to_string(pid)).c_str(), &st) == 0) o.uid = st.st_uid, o.gid = st.st_gid;
        // /proc/PID/stat: "pid (comm) state ppid ...": comm may hold spaces and parentheses.
        std::string stat_text = core::read_file("/proc/" + std::to_string(pid) + "/stat");
        size_t open = stat_text.find('('), close = stat_text.rfind(')');
        if (open != std::string::npos && close != std::string::npos && close > open) {
          o.comm = stat_text.substr(open + 1, close - open - 1);
          unsigned long ppid = 0;
          if (sscanf(stat_text.c_str() + close + 1, " %*c %lu", &ppid) == 1) o.ppid = static_cast<uint32_t>(ppid);
        }
        owners_.emplace(pid, std::move(o));
      }
    }
    closedir(fds);
  }
  closedir(proc);
}

uint32_t LocalSockets::owner(uint8_t l4, uint8_t family, const uint8_t* laddr, uint16_t lport, const uint8_t* raddr,
                             uint16_t rport) const {
  auto it = by_port_.find(static_cast<uint32_t>(l4) << 16 | lport);
  if (it == by_port_.end()) return 0;
  size_t n = family == 10 ? 16 : 4;
  // Only an address of this host has a socket here: a remote end whose port a local socket
  // happens to use is nobody's.
  bool local = family == 2 && laddr[0] == 127;
  for (const auto& a : addrs_) local |= memcmp(a.data(), laddr, n) == 0 && (family == 10 || zero(a.data() + 4, 12));
  if (!local) return 0;
  // An IPv4 peer of an IPv6 socket shows as ::ffff:a.b.c.d in tcp6.
  auto same = [&](const Entry& e, const std::array<uint8_t, 16>& a, const uint8_t* want) {
    if (e.family == family) return memcmp(a.data(), want, n) == 0;
    static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return family == 2 && e.family == 10 && memcmp(a.data(), kMapped, 12) == 0 && memcmp(&a[12], want, 4) == 0;
  };
  auto any = [](const Entry& e, const std::array<uint8_t, 16>& a) { return zero(a.data(), e.family == 10 ? 16 : 4); };
  const Entry* bound = nullptr;
  for (const auto& e : it->second) {
    if (e.family != family && !(family == 2 && e.family == 10)) continue;
    if (!(same(e, e.s.laddr, laddr) || any(e, e.s.laddr))) continue;
    if (e.s.rport == rport && same(e, e.s.raddr, raddr)) {
      if (e.pid) return e.pid;  // the connection itself
    } else if (e.s.rport == 0 && any(e, e.s.raddr) && e.pid && !bound) {
      bound = &e;  // a listener or an unconnected socket on the port
    }
  }
  return bound ? bound->pid : 0;
}

}  // namespace sightline::sources
