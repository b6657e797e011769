// Which local process owns an IP socket: /proc/net/{tcp,tcp6,udp,udp6} name each socket's
// inode, /proc/PID/fd names each inode's owner. Read again on demand (refresh), at most as often
// as the caller asks; lookups are from the last reading. Names the ends of flows (packets source).
#pragma once
#include <array>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace sightline::sources {

struct ProcNetSocket {
  std::array<uint8_t, 16> laddr{}, raddr{};  // IPv4 in the first 4 bytes (network order)
  uint16_t lport = 0, rport = 0;               // host order
  uint8_t state = 0;                           // TCP state (10: listen); UDP: 7 unconnected, 1 connected
  uint64_t inode = 0;
};

// The rows of one /proc/net/{tcp,tcp6,udp,udp6} text; malformed rows are skipped. `v6`: the
// addresses are 32 hex digits.
std::vector<ProcNetSocket> parse_proc_net(std::string_view text, bool v6);

// A socket's owner as /proc showed it at the reading.
struct SocketOwner {
  uint32_t pid = 0, ppid = 0, uid = 0, gid = 0;
  std::string comm;
};

class LocalSockets {
 public:
  // Reads the socket tables and the owners of their inodes (every /proc/PID/fd): a few ms on a
  // node of a few hundred processes.
  void refresh();
  // The owner of the socket (l4: 6 or 17; family 2 or 10) bound at laddr:lport, connected to
  // raddr:rport (or listening/unconnected there): 0 if none is known.
  uint32_t owner(uint8_t l4, uint8_t family, const uint8_t* laddr, uint16_t lport, const uint8_t* raddr,
                 uint16_t rport) const;
  size_t sockets() const { return count_; }
  // The owner read with the last refresh (pid 0: none).
  const SocketOwner& info(uint32_t pid) const;

 private:
  struct Entry {
    ProcNetSocket s;
    uint8_t family = 2;
    uint32_t pid = 0;
  };
  // By (l4 << 16 | lport).
  std::unordered_map<uint32_t, std::vector<Entry>> by_port_;
  size_t count_ = 0;
  std::unordered_map<uint32_t, SocketOwner> owners_;
  std::vector<std::array<uint8_t, 16>> addrs_;  // this namespace's own addresses (getifaddrs)
};

}  // namespace sightline::sources
