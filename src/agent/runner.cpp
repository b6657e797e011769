#include "agent/runner.h"

#include <spdlog/spdlog.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <fstream>

#include "core/clock.h"
#include "core/wall_clock.h"
#include "sources/aggregate.h"

namespace sightline::agent {

Runner::Runner(bpf::Features features, RunnerBounds bounds)
    : features_(std::move(features)), table_(bounds.max_processes, bounds.process_bytes), dns_names_(bounds.dns_names) {
  table_.set_container_resolver([this](uint64_t id) { return cgroups_.container(id); });
  epoll_fd_ = epoll_create1(EPOLL_CLOEXEC);
}

Runner::~Runner() {
  stop_all();
  if (epoll_fd_ >= 0) close(epoll_fd_);
}

core::Status Runner::start(const std::string& name, const sources::SourceOptions& opts) {
  const sources::SourceInfo* info = sources::find_source(name);
  if (!info) return core::Status::error(EINVAL, "unknown source '" + name + "'");
  return start(info->create(), opts);
}

core::Status Runner::start(std::unique_ptr<sources::Source> source, const sources::SourceOptions& opts) {
  std::string name(source->name());
  RunningSource rs{name, std::move(source), false, ""};
  sources::SourceOptions o = opts;
  if (!o.process_name) o.process_name = [this](uint32_t pid) { return process_key_caught_up(pid); };
  if (!o.process_settled) o.process_settled = [this](uint32_t pid) { return process_settled(pid); };
  if (!o.learn_dns) o.learn_dns = [this](std::string_view a, std::string_view n) { dns_names_.learn(a, n); };
  if (!o.cgroup_info)
    o.cgroup_info = [this](uint64_t id) {
      return std::make_pair(cgroups_.path(id), cgroups_.container_id(id));
    };
  if (name == "net" && o.sock_traffic_fd < 0)
    for (const auto& s : sources_)
      if (int fd = s.running ? s.source->shared_map_fd("sock_traffic") : -1; fd >= 0)
        o.sock_traffic_fd = fd, o.sock_slots_fd = s.source->shared_map_fd("sock_slots");
  if ((name == "l7" || name == "profile") && o.thread_time_fd < 0)
    for (const auto& s : sources_)
      if (int fd = s.running ? s.source->shared_map_fd("thread_time") : -1; fd >= 0) o.thread_time_fd = fd;
  core::Status st = rs.source->start(o, features_, this);
  if (st) {
    rs.running = true;
    struct epoll_event ev = {};
    ev.events = EPOLLIN;
    int fd = rs.source->epoll_fd();
    if (fd >= 0 && epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0)
      spdlog::warn("{}: epoll_ctl: {}", name, strerror(errno));
  } else {
    rs.error = st.message();
  }
  sources_.push_back(std::move(rs));
  return st;
}

void Runner::catch_up_on(uint32_t pid) {
  // Unknown, or forked moments ago and not exec'd since: its exec may wait in the process
  // source's ring (a DNS query by dig read before dig's exec named it bash, its exepath too).
  const core::ProcessInfo* p = table_.find(pid);
  bool young_fork = p && p->forked_only && !p->exited_boot_ns && core::now_boot_ns() - p->start_boot_ns < 1000000000ULL;
  if ((!p || young_fork) && !catching_up_) {
    catching_up_ = true;
    for (auto& s : sources_)
      if (s.running && s.name == "process") s.source->consume();
    catching_up_ = false;
  }
}

std::string Runner::process_key_caught_up(uint32_t pid) {
  catch_up_on(pid);
  return process_key(pid);
}

bool Runner::process_settled(uint32_t pid) {
  catch_up_on(pid);
  const core::ProcessInfo* p = table_.find(pid);
  return !p || !p->forked_only || p->exited_boot_ns || core::now_boot_ns() - p->start_boot_ns > 1000000000ULL;
}

std::string Runner::process_key(uint32_t pid) const {
  const core::ProcessInfo* p = table_.find(pid);
  std::string key;
  for (const auto& dim : process_dims_) {
    std::string value;
    if (dim == "comm") {
      // A live process: its main thread's current name (prctl renames included). One that
      // exited: the process table keeps it for a grace period.
      std::ifstream in("/proc/" + std::to_string(pid) + "/comm");
      if (!std::getline(in, value) || value.empty()) value = p ? p->comm : std::string();
      if (value.empty()) value = "unknown";
    } else if (dim == "container_id") {
      if (p) {
        value = p->container ? p->container->id : std::string();
      } else {  // not in the table (not seeded): its cgroup v2 path says
        std::ifstream in("/proc/" + std::to_string(pid) + "/cgroup");
        for (std::string line; std::getline(in, line);)
          if (line.starts_with("0::")) value = core::container_id_from_path(line.substr(3));
      }  // empty: not in a container
    } else if (dim == "pid") {
      value = std::to_string(pid);
    } else {
      continue;
    }
    if (!key.empty()) key += sources::kKeySep;
    key += dim + "=" + value;
  }
  return key;
}

namespace {
bool is_process_kind(core::EventKind k) {
  static const sources::SourceInfo* process = sources::find_source("process");
  return sources::source_for_kind(k) == process;
}
}  // namespace

void Runner::on_event(core::Event& e) {
  if (e.action) {
    // The table's enrichment, without changing it (exe: the kernel's, resolved at the hook).
    if (const core::ProcessInfo* p = table_.find(e.pid)) {
      if (const auto& c = p->container) e.container_id = c->id, e.container_runtime = c->runtime;
      if (e.kind != core::EventKind::kExec) e.args = p->args;
    }
    if (const core::ProcessInfo* parent = table_.find(e.ppid)) e.pname = parent->comm;
    for (auto* s : action_sinks_) s->on_event(e);
    return;
  }
  // A process the table does not know yet (or a fork not yet exec'd) most likely started since
  // the process source was last read (the rings are read one after the other): its exec first,
  // so that this event is named and enriched (rules read proc.exepath, proc.cmdline). Never
  // from within the process source's own events (its ring is being read).
  if (e.pid && !is_process_kind(e.kind)) catch_up_on(e.pid);
  table_.observe(e);
  if (!e.raddr.empty() && e.rname.empty()) e.rname = dns_names_.find(e.raddr);
  for (auto* s : sinks_) s->on_event(e);
}

int Runner::drain() {
  int n = 0;
  for (auto& s : sources_)
    if (s.running) {
      int r = s.source->consume();
      if (r > 0) n += r;
    }
  return n;
}

void Runner::run(const std::atomic<bool>& stop, uint32_t poll_ms, uint64_t deadline_boot_ns,
                 const std::function<void()>& after_drain) {
  uint64_t next_tick = core::now_boot_ns() + 1000000000ULL;
  struct epoll_event evs[8];
  while (!stop.load(std::memory_order_relaxed)) {
    uint64_t now = core::now_boot_ns();
    int timeout = static_cast<int>(poll_ms);
    if (deadline_boot_ns) {
      if (now >= deadline_boot_ns) break;
      timeout = static_cast<int>(std::min<uint64_t>(timeout, (deadline_boot_ns - now) / 1000000 + 1));
    }
    // Below the forced-wakeup threshold nothing wakes us: the timeout is the batching period.
    epoll_wait(epoll_fd_, evs, 8, timeout);
    drain();
    if (after_drain) after_drain();
    now = core::now_boot_ns();
    if (now >= next_tick) {
      next_tick = now + 1000000000ULL;
      core::wall_clock().resync();
      collect_all();
      table_.sweep(now);
    }
  }
  drain();
  if (after_drain) after_drain();
}

void Runner::collect_all() {
  std::vector<std::vector<core::MetricFamily>> all(sources_.size());
  for (size_t i = 0; i < sources_.size(); i++)
    if (sources_[i].running) sources_[i].source->collect(all[i]);
  std::lock_guard lock(metrics_mu_);
  metrics_ = std::move(all);
}

void Runner::visit_metrics(const std::function<void(const core::MetricFamily&)>& fn) const {
  std::lock_guard lock(metrics_mu_);
  for (const auto& families : metrics_)
    for (const auto& f : families) fn(f);
}

void Runner::stop_all() {
  for (auto& s : sources_) {
    if (s.running) s.source->stop();
    s.running = false;
  }
}

}  // namespace sightline::agent
