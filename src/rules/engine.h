// Runs a rule set on every event (as a sink of the runner, after the process table has seen
// it) and delivers alerts: stdout, a JSON-lines file, a webhook, Prometheus Alertmanager.
// Each rule is rate-limited (token bucket); suppressed alerts are counted. HTTP deliveries go
// through a bounded queue on their own thread: the polling thread never waits on a network.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "core/alert.h"
#include "core/metrics.h"
#include "core/process_table.h"
#include "rules/baseline.h"
#include "rules/ruleset.h"
#include "rules/users.h"
#include "sources/source.h"

namespace sightline::rules {

struct AlertOutputs {
  bool stdout_text = false;
  std::string json_file;     // append JSON lines
  std::string webhook;       // http://host:port/path: POST one JSON alert
  std::string alertmanager;  // http://host:port: POST /api/v2/alerts
  // Called (on the polling thread) with every alert delivered: the store, the log exporters.
  // Must not block.
  std::function<void(const core::Alert&)> listener;
};

struct Limits {
  double rate_per_s = 5;  // alerts per second per rule, sustained
  double burst = 20;
  size_t http_queue = 1024;
};

// A condition's context over `table` (ancestors) and `users` (user names); both outlive it.
Context process_context(const core::ProcessTable* table, UserNames* users);

class Engine : public sources::EventSink {
 public:
  Engine(const core::ProcessTable* table, AlertOutputs outputs, Limits limits = {});
  ~Engine() override;
  // Swaps in a compiled rule set (SIGHUP reload): takes effect at the next event. `generation`
  // is that of the enforcement plan made from it (records of acting rules name their rule by
  // bit and generation; the previous set is kept for records still in flight).
  void set_rules(std::shared_ptr<const RuleSet> rules, uint32_t generation = 0);
  void on_event(core::Event& e) override;
  // Learnt behaviour: every event also feeds `b`; its deviations are alerts of the rules
  // "Baseline: new <category>" (NOTICE; "Baseline: workload never settles" once a workload).
  void set_baseline(std::unique_ptr<Baseline> b);
  // The profiles as JSON ("" without a baseline), for GET /api/v1/baseline.
  std::string baseline_json() const;
  // Profiles saved from baseline_json() (an earlier run's), added to the ones held.
  core::Status load_baseline(std::string_view json, size_t* loaded);
  // sightline_alerts_total{rule,priority}, sightline_alerts_suppressed_total{rule},
  // sightline_alert_deliveries_failed_total{output}.
  void metrics(std::vector<core::MetricFamily>& out) const;
  // The JSON of an alert (what every output carries).
  static std::string alert_json(const Rule& r, const core::Event& e, const std::string& output,
                                const std::vector<std::string>& ancestry);
  // An acting rule's outcome as alerts name it: killed, denied, would_kill and would_deny (dry
  // run), failed.
  static std::string_view outcome_name(const core::Event& e);
  uint64_t alerts() const { return alerts_total_.load(); }
  // Counts a rule reload (SIGHUP): sightline_rules_reloads_total{result}.
  void reloaded(bool ok) {
    std::lock_guard lock(stats_mu_);
    (ok ? reloads_ok_ : reloads_failed_)++;
  }

 private:
  Context make_context() const;
  Context ctx_;  // built once: no allocation per event
  uint64_t events_seen_ = 0;  // evt.num (on_event runs on one thread)
  void deliver(const Rule& r, const core::Event& e, const std::string* output = nullptr);
  void on_action(core::Event& e);
  bool admit(const Rule& r);
  void http_loop();

  const core::ProcessTable* table_;
  AlertOutputs out_;
  Limits limits_;
  std::shared_ptr<const RuleSet> rules_, previous_;
  uint32_t generation_ = 0, previous_generation_ = 0;
  std::mutex rules_mu_;
  std::vector<const Rule*> hits_;
  FILE* json_ = nullptr;
  struct Bucket {
    double tokens = 0;
    uint64_t last_ns = 0;
  };
  std::map<std::string, Bucket> buckets_;
  mutable std::mutex stats_mu_;
  std::map<std::pair<std::string, std::string>, uint64_t> fired_;  // (rule, priority)
  std::map<std::string, uint64_t> suppressed_;
  std::unique_ptr<Baseline> baseline_;  // guarded by baseline_mu_ (the API reads it)
  mutable std::mutex baseline_mu_;
  std::vector<Rule> baseline_rules_;    // one per category, and the unsettled one
  std::map<std::tuple<std::string, std::string, std::string>, uint64_t> actions_;  // (rule, action, outcome)
  uint64_t actions_unknown_ = 0;  // records of a generation no longer known
  std::map<std::string, uint64_t> failed_;  // by output
  std::atomic<uint64_t> alerts_total_{0};
  uint64_t reloads_ok_ = 0, reloads_failed_ = 0;
  mutable UserNames users_;
  // HTTP deliveries
  struct Pending {
    std::string target;  // "webhook" or "alertmanager"
    std::string body;
  };
  std::mutex q_mu_;
  std::condition_variable q_cv_;
  std::deque<Pending> queue_;
  bool stopping_ = false;
  std::thread http_;
};

}  // namespace sightline::rules
