#include "core/dns_names.h"

namespace sightline::core {

void DnsNames::learn(std::string_view address, std::string_view name) {
  if (address.empty() || name.empty()) return;
  if (auto it = map_.find(address); it != map_.end()) {
    it->second->second.assign(name);
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  if (map_.size() >= max_) {
    map_.erase(lru_.back().first);
    lru_.pop_back();
    evicted_.fetch_add(1, std::memory_order_relaxed);
  }
  lru_.emplace_front(std::string(address), std::string(name));
  map_.emplace(lru_.front().first, lru_.begin());
  size_.store(map_.size(), std::memory_order_relaxed);
}

std::string_view DnsNames::find(std::string_view address) const {
  auto it = map_.find(address);
  return it == map_.end() ? std::string_view() : std::string_view(it->second->second);
}

}  // namespace sightline::core
