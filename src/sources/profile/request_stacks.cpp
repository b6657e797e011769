#include "sources/profile/request_stacks.h"

#include <algorithm>

#include "sightline/l7.h"

namespace sightline::sources {

void RequestStackJoin::on_event(core::Event& e) {
  if (e.kind != core::EventKind::kRequest || e.role != SL_L7_SERVER || !e.timeline || !e.tid) return;
  if (!(e.error || e.no_response || e.duration_ns >= slow_ns_)) return;
  Key k{e.tid, e.ts_boot_ns};
  auto [it, added] = noted_.try_emplace(k);
  it->second.wall_ns = e.ts_wall_ns;
  if (!added) return;
  order_.push_back(k);
  while (order_.size() > kMaxRequests) {
    noted_.erase(order_.front());
    order_.pop_front();
  }
}

std::vector<RequestStack> RequestStackJoin::join(std::vector<RequestStack> stacks, uint64_t now_boot_ns) {
  if (last_ns_ && now_boot_ns > last_ns_)
    tokens_ = std::min(kRequestsPerS * 10, tokens_ + kRequestsPerS * static_cast<double>(now_boot_ns - last_ns_) / 1e9);
  last_ns_ = now_boot_ns;
  std::vector<RequestStack> rows;
  std::vector<RequestStack> still;
  auto one = [&](RequestStack& s) {
    auto it = noted_.lower_bound(Key{s.tid, s.start_boot_ns});
    if (it == noted_.end() || it->first.tid != s.tid || it->first.start - s.start_boot_ns > kSkewNs) {
      if (now_boot_ns < s.start_boot_ns + kWaitNs) {
        if (still.size() < kMaxWaiting) still.push_back(std::move(s));
        else stats_.dropped++;
      } else {
        stats_.unmatched++;
      }
      return;
    }
    Noted& n = it->second;
    if (!n.budgeted) {
      if (tokens_ < 1) {
        stats_.dropped++;
        return;
      }
      tokens_ -= 1;
      n.budgeted = true;
      stats_.requests++;
    }
    if (n.rows >= kMaxRowsPerRequest) {
      stats_.dropped++;
      return;
    }
    n.rows++;
    stats_.rows++;
    s.time_ns = n.wall_ns;
    rows.push_back(std::move(s));
  };
  for (auto& s : waiting_) one(s);
  for (auto& s : stacks) one(s);
  waiting_ = std::move(still);
  return rows;
}

}  // namespace sightline::sources
