// Starts sources, runs the poll loop, and feeds every event through the process table to the
// consumers. Shared by `sightline agent`, `sightline trace` and the BPF tests, so all three run
// sources exactly the same way.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bpf/features.h"
#include "core/cgroups.h"
#include "core/dns_names.h"
#include "core/process_table.h"
#include "sources/source.h"

namespace sightline::agent {

struct RunningSource {
  std::string name;
  std::unique_ptr<sources::Source> source;
  bool running = false;
  std::string error;  // why it is not running
};

// The bounds of the runner's own tables (the agent sets them from memory_limit's plan).
struct RunnerBounds {
  size_t max_processes = core::ProcessTable::kDefaultMaxEntries;
  size_t process_bytes = core::ProcessTable::kDefaultMaxBytes;
  size_t dns_names = core::DnsNames::kMaxEntries;
};

class Runner : public sources::EventSink {
 public:
  explicit Runner(bpf::Features features, RunnerBounds bounds = {});
  ~Runner() override;

  // Consumers see every event after enrichment, in order, on the polling thread.
  void add_sink(sources::EventSink* sink) { sinks_.push_back(sink); }
  // Events of acting rules (Event::action set: the enforcement source's) go to these alone:
  // the rule engine raises their alerts; they are no open or exec of the event stream.
  void add_action_sink(sources::EventSink* sink) { action_sinks_.push_back(sink); }
  // Seeds the process table from /proc (call before start so early events are enriched).
  size_t seed_processes() { return table_.seed_from_proc(); }

  // The process dimensions of per-process metrics, from comm, container_id, pid (in this
  // order of preference); default {comm}. Set before start().
  void set_process_labels(std::vector<std::string> dims) { process_dims_ = std::move(dims); }
  // The key per-process metrics are kept by (sources/aggregate.h): "comm=..\x1fpid=.."
  std::string process_key(uint32_t pid) const;
  // process_key for the aggregations: a pid the table does not know yet is most likely a
  // process that started since the last drain (a collection takes a while and the kernel
  // counts at once): its exec and fork events are read first, then it is named.
  std::string process_key_caught_up(uint32_t pid);
  // SourceOptions::process_settled: false for a process forked under a second ago, alive and
  // not exec'd yet (after the same catching up), whose name its exec may be about to change.
  bool process_settled(uint32_t pid);
  void catch_up_on(uint32_t pid);
  bool catching_up_ = false;

  // Starts one source; a failure is recorded on it and returned, other sources are unaffected.
  // net takes the socket traffic map a running source fills for it (l7 started with
  // SourceOptions::count_sock_traffic): start that one first. l7 takes sched's per-thread time
  // (timelines): start sched before it.
  core::Status start(const std::string& name, const sources::SourceOptions& opts);
  // The same for a source made by its caller (one outside the registry: enforcement). The runner
  // owns it until stop_all().
  core::Status start(std::unique_ptr<sources::Source> source, const sources::SourceOptions& opts);
  // Polls until `stop` is set or `deadline_boot_ns` (0: none) passes. Waits at most
  // poll_ms for a forced wakeup, then drains every source and calls `after_drain`.
  void run(const std::atomic<bool>& stop, uint32_t poll_ms, uint64_t deadline_boot_ns = 0,
           const std::function<void()>& after_drain = {});
  // One drain of every source, now.
  int drain();
  // Reads every source's in-kernel aggregations into its metric snapshot (run() does this
  // once a second, on the polling thread, where the process table is safe to read).
  void collect_all();
  // Visits the latest snapshot of every source, under the snapshot lock (any thread).
  void visit_metrics(const std::function<void(const core::MetricFamily&)>& fn) const;
  void stop_all();

  const std::vector<RunningSource>& sources() const { return sources_; }
  const core::ProcessTable& table() const { return table_; }
  const core::DnsNames& dns_names() const { return dns_names_; }
  const bpf::Features& features() const { return features_; }

  void on_event(core::Event& e) override;

 private:
  bpf::Features features_;
  core::CgroupResolver cgroups_;
  core::ProcessTable table_;
  std::vector<sources::EventSink*> sinks_, action_sinks_;
  std::vector<RunningSource> sources_;
  mutable std::mutex metrics_mu_;
  std::vector<std::vector<core::MetricFamily>> metrics_;  // per source, latest collect
  int epoll_fd_ = -1;
  std::vector<std::string> process_dims_ = {"comm"};
  core::DnsNames dns_names_;
};

}  // namespace sightline::agent
