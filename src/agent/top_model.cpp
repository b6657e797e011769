#include "agent/top_model.h"

#include <algorithm>

namespace sightline::agent {
namespace {
std::string label(const core::Labels& l, const char* key) {
  for (const auto& [k, v] : l)
    if (k == key) return v;
  return {};
}
}  // namespace

void TopModel::update(const std::vector<core::MetricFamily>& families, double seconds) {
  std::map<std::string, Totals> now;
  for (const auto& f : families) {
    double Totals::*field = nullptr;
    if (f.name == "sightline_cpu_seconds_total") field = &Totals::cpu_s;
    else if (f.name == "sightline_syscalls_total") field = &Totals::syscalls;
    else if (f.name == "sightline_runqueue_wait_seconds_total") field = &Totals::runq_s;
    else if (f.name == "sightline_block_io_bytes_total") field = &Totals::disk_bytes;
    else if (f.name == "sightline_socket_bytes_total") field = &Totals::net_bytes;
    if (!field) continue;
    for (const auto& s : f.series) {
      if (field == &Totals::net_bytes) {
        std::string proto = label(s.labels, "protocol");  // local IPC is not network traffic
        if (proto == "unix" || proto == "netlink" || proto == "vsock" || proto == "other") continue;
      }
      now[label(s.labels, "comm")].*field += s.value;
    }
  }
  if (have_prev_ && seconds > 0) {
    rates_.clear();
    for (const auto& [comm, t] : now) {
      Totals p = prev_.count(comm) ? prev_.at(comm) : Totals{};
      Totals r;
      r.cpu_s = std::max(0.0, t.cpu_s - p.cpu_s) / seconds;
      r.syscalls = std::max(0.0, t.syscalls - p.syscalls) / seconds;
      r.runq_s = std::max(0.0, t.runq_s - p.runq_s) / seconds;
      r.disk_bytes = std::max(0.0, t.disk_bytes - p.disk_bytes) / seconds;
      r.net_bytes = std::max(0.0, t.net_bytes - p.net_bytes) / seconds;
      rates_[comm] = r;
    }
    ready_ = true;
  }
  prev_ = std::move(now);
  have_prev_ = true;
}

std::vector<TopRow> TopModel::rows(TopSort sort, size_t limit) const {
  std::vector<TopRow> out;
  for (const auto& [comm, r] : rates_) {
    if (r.cpu_s == 0 && r.syscalls == 0 && r.runq_s == 0 && r.disk_bytes == 0 && r.net_bytes == 0)
      continue;
    out.push_back({comm, r.cpu_s * 100, r.syscalls, r.runq_s * 1000, r.disk_bytes, r.net_bytes});
  }
  auto key = [sort](const TopRow& r) {
    switch (sort) {
      case TopSort::kCpu: return r.cpu_pct;
      case TopSort::kSyscalls: return r.syscalls_per_s;
      case TopSort::kRunq: return r.runq_ms_per_s;
      case TopSort::kDisk: return r.disk_bytes_per_s;
      case TopSort::kNet: return r.net_bytes_per_s;
    }
    return 0.0;
  };
  std::stable_sort(out.begin(), out.end(), [&](const TopRow& a, const TopRow& b) { return key(a) > key(b); });
  if (out.size() > limit) out.resize(limit);
  return out;
}

}  // namespace sightline::agent
