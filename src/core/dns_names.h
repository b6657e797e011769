// Names for remote addresses, learnt from the DNS answers the node's processes received (the
// l7 source parses them): a connection to 93.184.216.34 reads as example.com. Bounded (LRU);
// one thread (the runner's polling thread) learns and reads; size() and evicted() any thread.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

namespace sightline::core {

class DnsNames {
 public:
  // Addresses remembered at once: a busy node resolves a few thousand names.
  static constexpr size_t kMaxEntries = 8192;
  explicit DnsNames(size_t max = kMaxEntries) : max_(max) {}

  void learn(std::string_view address, std::string_view name);
  // The last name `address` was an answer for; empty if none. Valid until the next learn().
  std::string_view find(std::string_view address) const;
  size_t size() const { return size_.load(std::memory_order_relaxed); }
  uint64_t evicted() const { return evicted_.load(std::memory_order_relaxed); }

 private:
  size_t max_;
  std::list<std::pair<std::string, std::string>> lru_;  // (address, name), newest first
  std::unordered_map<std::string_view, decltype(lru_)::iterator> map_;  // keys view lru_'s
  std::atomic<size_t> size_{0};
  std::atomic<uint64_t> evicted_{0};
};

}  // namespace sightline::core
