#include "rules/engine.h"

#include <httplib.h>
#include <pwd.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <chrono>

#include "core/clock.h"
#include "core/render.h"

namespace sightline::rules {

namespace {
// "http://host:port/path" -> client base and path.
bool split_url(const std::string& url, std::string* base, std::string* path) {
  if (!url.starts_with("http://") && !url.starts_with("https://")) return false;
  size_t slash = url.find('/', url.find("://") + 3);
  *base = slash == std::string::npos ? url : url.substr(0, slash);
  *path = slash == std::string::npos ? "/" : url.substr(slash);
  return true;
}

std::string hostname() {
  char h[256] = {};
  gethostname(h, sizeof h - 1);
  return h;
}
}  // namespace

Engine::Engine(const core::ProcessTable* table, AlertOutputs outputs, Limits limits)
    : table_(table), out_(std::move(outputs)), limits_(limits) {
  ctx_ = make_context();
  ctx_.event_num = [this] { return events_seen_; };
  if (!out_.json_file.empty()) {
    json_ = fopen(out_.json_file.c_str(), "a");
    if (!json_) spdlog::error("rules: cannot open {}: {}", out_.json_file, strerror(errno));
  }
  if (!out_.webhook.empty() || !out_.alertmanager.empty()) http_ = std::thread([this] { http_loop(); });
}

Engine::~Engine() {
  {
    std::lock_guard lock(q_mu_);
    stopping_ = true;
  }
  q_cv_.notify_all();
  if (http_.joinable()) http_.join();
  if (json_) fclose(json_);
}

void Engine::set_rules(std::shared_ptr<const RuleSet> rules, uint32_t generation) {
  std::lock_guard lock(rules_mu_);
  previous_ = std::move(rules_);
  previous_generation_ = generation_;
  rules_ = std::move(rules);
  generation_ = generation;
}

void Engine::set_baseline(std::unique_ptr<Baseline> b) {
  static const char* kWhat[][2] = {{"Baseline: new executable", "A workload ran a program its baseline never saw it run."},
                                   {"Baseline: new write location", "A workload wrote a file in a directory its baseline never saw it write in."},
                                   {"Baseline: new outbound destination", "A workload connected to a destination its baseline never saw."},
                                   {"Baseline: new listening port", "A workload accepted a connection on a port its baseline never saw."},
                                   {"Baseline: new syscall category", "A workload made a kind of security-relevant syscall (ptrace, mount, namespaces, privileges ...) its baseline never saw it make."},
                                   {"Baseline: workload never settles", "A workload did more distinct things while learning than its bound: it is reported once, not checked."}};
  baseline_rules_.clear();
  for (const auto& w : kWhat) {
    Rule r;
    r.name = w[0];
    r.desc = w[1];
    r.priority = Priority::kNotice;
    r.tags = {"baseline"};
    r.origin = "baseline";
    baseline_rules_.push_back(std::move(r));
  }
  std::lock_guard lock(baseline_mu_);
  baseline_ = std::move(b);
}

std::string Engine::baseline_json() const {
  std::lock_guard lock(baseline_mu_);
  return baseline_ ? baseline_->json(core::now_boot_ns()) : std::string();
}

core::Status Engine::load_baseline(std::string_view json, size_t* loaded) {
  std::lock_guard lock(baseline_mu_);
  if (!baseline_) return core::Status::error(EINVAL, "the baseline is off (rules.baseline)");
  return baseline_->load(json, core::now_boot_ns(), loaded);
}

std::string_view Engine::outcome_name(const core::Event& e) {
  switch (e.action_outcome) {
    case 1: return "killed";
    case 2: return "would_kill";
    case 3: return "failed";
    case 4: return "denied";
    case 5: return "would_deny";
  }
  return "";
}

// A record of the enforcement programs: the rule acted (or would have) in the kernel; its alert
// is raised here, never rate-limited when the action was taken (each is one process killed).
void Engine::on_action(core::Event& e) {
  std::shared_ptr<const RuleSet> rules;
  {
    std::lock_guard lock(rules_mu_);
    rules = e.action_generation == generation_ ? rules_ : e.action_generation == previous_generation_ ? previous_ : nullptr;
  }
  const Rule* r = nullptr;
  if (rules) {
    auto acting = rules->acting();
    if (e.action_rule < acting.size()) r = acting[e.action_rule];
  }
  if (!r) {
    std::lock_guard lock(stats_mu_);
    actions_unknown_++;
    return;
  }
  {
    std::lock_guard lock(stats_mu_);
    actions_[{r->name, std::string(action_name(r->action)), std::string(outcome_name(e))}]++;
  }
  // A dry run is limited like any alert (a noisy rule); an action taken never is.
  if ((e.action_outcome == 2 || e.action_outcome == 5) && !admit(*r)) return;
  deliver(*r, e);
}

// Token bucket per rule: a noisy rule cannot flood the outputs. False: suppressed (counted).
bool Engine::admit(const Rule& r) {
  uint64_t now = core::now_boot_ns();
  Bucket& b = buckets_[r.name];
  if (!b.last_ns) b.tokens = limits_.burst;
  b.tokens = std::min(limits_.burst, b.tokens + (now - b.last_ns) * 1e-9 * limits_.rate_per_s * (b.last_ns != 0));
  b.last_ns = now;
  if (b.tokens < 1) {
    std::lock_guard lock(stats_mu_);
    suppressed_[r.name]++;
    return false;
  }
  b.tokens -= 1;
  return true;
}

Context process_context(const core::ProcessTable* table, UserNames* users) {
  Context c;
  c.ancestor = [table](uint32_t pid, int n) -> std::string {
    if (!table) return {};
    const core::ProcessInfo* p = table->find(pid);
    for (int i = 0; p && i < n; i++) {
      if (!p->ppid || p->ppid == p->pid) return {};
      p = table->find(p->ppid);
    }
    return p ? p->comm : std::string();
  };
  c.user_name = [users](const core::Event& e) { return users->name(e.uid, e.pid, e.container_id); };
  c.process = [table](uint32_t pid, Context::Process* out) {
    const core::ProcessInfo* p = table ? table->find(pid) : nullptr;
    if (!p) return false;
    out->ppid = p->ppid;
    out->start_boot_ns = p->start_boot_ns;
    out->comm = p->comm;
    out->exe = p->exe;
    out->args = p->args;
    return true;
  };
  c.proc_file = [](uint32_t pid, ProcFile what, int arg) { return read_proc_file("/proc", pid, what, arg); };
  auto meta = std::make_shared<ContainerMetaCache>();
  c.container = [meta](std::string_view id) { return meta->get(id); };
  return c;
}

Context Engine::make_context() const { return process_context(table_, &users_); }

void Engine::on_event(core::Event& e) {
  if (e.action) return on_action(e);
  events_seen_++;
  std::shared_ptr<const RuleSet> rules;
  {
    std::lock_guard lock(rules_mu_);
    rules = rules_;
  }
  if (!rules) return;
  rules->match(e, ctx_, &hits_);
  for (const Rule* r : hits_)
    if (admit(*r)) deliver(*r, e);
  if (baseline_) {
    Deviation d;
    bool hit;
    {
      std::lock_guard lock(baseline_mu_);
      hit = baseline_->observe(e, core::now_boot_ns(), &d);
    }
    if (hit) {
      static const char* kCats[] = {"executable", "write_dir", "outbound", "listen_port", "syscall"};
      constexpr size_t kUnsettled = std::size(kCats);
      size_t i = kUnsettled;
      for (size_t c = 0; c < kUnsettled; c++)
        if (d.category == kCats[c]) i = c;
      const Rule& r = baseline_rules_[d.unsettled ? kUnsettled : i];
      std::string out = d.unsettled ? "Workload " + d.workload + " never settled: more than its bound of values in " +
                                          d.value + " while learning; it is not checked value by value"
                                    : "New " + d.category + " " + d.value + " for workload " + d.workload +
                                          " (its baseline: " + std::to_string(d.known) + " values, most seen " +
                                          (d.most_seen.empty() ? "none" : d.most_seen) + "; pid=" +
                                          std::to_string(e.pid) + " program=" + std::string(e.comm) + ")";
      if (admit(r)) deliver(r, e, &out);
    }
  }
}

std::string Engine::alert_json(const Rule& r, const core::Event& e, const std::string& output,
                               const std::vector<std::string>& ancestry) {
  std::string j = "{\"time\":";
  std::string t;
  core::append_rfc3339(t, e.ts_wall_ns);
  core::append_json_string(j, t);
  j += ",\"rule\":";
  core::append_json_string(j, r.name);
  j += ",\"priority\":";
  core::append_json_string(j, priority_name(r.priority));
  j += ",\"output\":";
  core::append_json_string(j, output);
  j += ",\"tags\":[";
  for (size_t i = 0; i < r.tags.size(); i++) {
    if (i) j += ',';
    core::append_json_string(j, r.tags[i]);
  }
  j += "],\"ancestry\":[";
  for (size_t i = 0; i < ancestry.size(); i++) {
    if (i) j += ',';
    core::append_json_string(j, ancestry[i]);
  }
  j += "]";
  if (e.action) {
    j += ",\"action\":";
    core::append_json_string(j, action_name(r.action));
    j += ",\"outcome\":";
    core::append_json_string(j, outcome_name(e));
    if (e.action_outcome == 3) j += ",\"errno\":" + std::to_string(-e.action_err);
  }
  j += ",\"container.id\":";
  core::append_json_string(j, e.container_id);
  j += ",\"event\":";
  core::append_event_json(j, e);
  j += "}";
  return j;
}

void Engine::deliver(const Rule& r, const core::Event& e, const std::string* given) {
  const Context& ctx = ctx_;
  std::string output = given ? *given : render_output(r.output, e, ctx);
  if (e.action) output += " (action " + std::string(action_name(r.action)) + ": " + std::string(outcome_name(e)) + ")";
  std::vector<std::string> ancestry;
  for (int i = 1; i <= 8; i++) {
    std::string a = ctx.ancestor(e.pid, i);
    if (a.empty()) break;
    ancestry.push_back(std::move(a));
  }
  alerts_total_++;
  {
    std::lock_guard lock(stats_mu_);
    fired_[{r.name, std::string(priority_name(r.priority))}]++;
  }
  std::string json = alert_json(r, e, output, ancestry);
  if (out_.listener) {
    core::Alert a;
    a.time_ns = e.ts_wall_ns;
    a.rule = r.name;
    a.priority = priority_name(r.priority);
    a.output = output;
    a.tags_json = "[";
    for (size_t i = 0; i < r.tags.size(); i++) {
      if (i) a.tags_json += ',';
      core::append_json_string(a.tags_json, r.tags[i]);
    }
    a.tags_json += ']';
    a.ancestry_json = "[";
    for (size_t i = 0; i < ancestry.size(); i++) {
      if (i) a.ancestry_json += ',';
      core::append_json_string(a.ancestry_json, ancestry[i]);
    }
    a.ancestry_json += ']';
    a.kind = core::kind_def(e.kind).name;
    a.pid = e.pid;
    a.proc_name = e.comm;
    a.container_id = e.container_id;
    core::append_event_json(a.event_json, e);
    a.json = json;
    out_.listener(a);
  }
  if (out_.stdout_text) {
    std::string t;
    core::append_rfc3339(t, e.ts_wall_ns);
    printf("%s %s: %s (rule: %s)\n", t.c_str(), std::string(priority_name(r.priority)).c_str(), output.c_str(),
           r.name.c_str());
    fflush(stdout);
  }
  if (json_) {
    fputs(json.c_str(), json_);
    fputc('\n', json_);
    fflush(json_);
  }
  auto enqueue = [&](const char* target, std::string body) {
    std::lock_guard lock(q_mu_);
    if (queue_.size() >= limits_.http_queue) {
      std::lock_guard s(stats_mu_);
      failed_[target]++;  // queue full: the receiver is down or slow
      return;
    }
    queue_.push_back({target, std::move(body)});
    q_cv_.notify_one();
  };
  if (!out_.webhook.empty()) enqueue("webhook", json);
  if (!out_.alertmanager.empty()) {
    std::string t;
    core::append_rfc3339(t, e.ts_wall_ns);
    std::string a = "[{\"labels\":{\"alertname\":";
    core::append_json_string(a, r.name);
    a += ",\"severity\":";
    std::string sev(priority_name(r.priority));
    for (auto& c : sev) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    core::append_json_string(a, sev);
    a += ",\"source\":\"sightline\",\"instance\":";
    core::append_json_string(a, hostname());
    a += ",\"proc_name\":";
    core::append_json_string(a, e.comm);
    a += ",\"container_id\":";
    core::append_json_string(a, e.container_id);
    a += "},\"annotations\":{\"summary\":";
    core::append_json_string(a, output);
    a += ",\"description\":";
    core::append_json_string(a, r.desc);
    a += "},\"startsAt\":";
    core::append_json_string(a, t);
    a += "}]";
    enqueue("alertmanager", std::move(a));
  }
}

void Engine::http_loop() {
  std::string wb, wp, ab, ap;
  bool wok = split_url(out_.webhook, &wb, &wp), aok = split_url(out_.alertmanager, &ab, &ap);
  if (aok) ap = (ap == "/" ? "" : ap) + "/api/v2/alerts";
  for (;;) {
    Pending p;
    {
      std::unique_lock lock(q_mu_);
      q_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, all sent
      p = std::move(queue_.front());
      queue_.pop_front();
    }
    bool webhook = p.target == "webhook";
    bool ok = false;
    if (webhook ? wok : aok) {
      httplib::Client cli(webhook ? wb : ab);
      cli.set_connection_timeout(2);
      cli.set_read_timeout(5);
      auto res = cli.Post(webhook ? wp : ap, p.body, "application/json");
      ok = res && res->status >= 200 && res->status < 300;
      if (!ok) spdlog::warn("rules: {} delivery failed: {}", p.target, res ? std::to_string(res->status) : httplib::to_string(res.error()));
    }
    if (!ok) {
      std::lock_guard s(stats_mu_);
      failed_[p.target]++;
    }
  }
}

void Engine::metrics(std::vector<core::MetricFamily>& out) const {
  std::lock_guard lock(stats_mu_);
  core::MetricFamily fired{"sightline_alerts_total", "Alerts raised, by rule and priority", core::MetricType::kCounter};
  for (const auto& [k, n] : fired_) fired.series.push_back({{{"rule", k.first}, {"priority", k.second}}, double(n), {}});
  core::MetricFamily sup{"sightline_alerts_suppressed_total", "Alerts not delivered because their rule hit its rate limit",
                         core::MetricType::kCounter};
  for (const auto& [k, n] : suppressed_) sup.series.push_back({{{"rule", k}}, double(n), {}});
  core::MetricFamily act{"sightline_rule_actions_total",
                         "Actions of rules in the kernel (action: kill or deny), by rule, action and outcome: "
                         "killed, denied, would_kill and would_deny (enforce: false), failed", core::MetricType::kCounter};
  for (const auto& [k, n] : actions_)
    act.series.push_back({{{"rule", std::get<0>(k)}, {"action", std::get<1>(k)}, {"outcome", std::get<2>(k)}}, double(n), {}});
  core::MetricFamily unk{"sightline_rule_actions_unnamed_total",
                         "Action records whose rule set was replaced twice before they were read (the action "
                         "was taken; no alert could name its rule)", core::MetricType::kCounter};
  unk.series.push_back({{}, double(actions_unknown_), {}});
  out.push_back(std::move(act));
  out.push_back(std::move(unk));
  {
    std::lock_guard lock(baseline_mu_);
    if (baseline_) {
      core::MetricFamily w{"sightline_baseline_workloads", "Workloads with a learnt profile (rules.baseline)",
                           core::MetricType::kGauge};
      w.series.push_back({{}, double(baseline_->workloads()), {}});
      core::MetricFamily d{"sightline_baseline_workloads_dropped_total",
                           "Events of workloads past rules.baseline.max_workloads: not learnt, not checked",
                           core::MetricType::kCounter};
      d.series.push_back({{}, double(baseline_->workloads_dropped()), {}});
      core::MetricFamily by{"sightline_baseline_bytes", "Memory the learnt profiles hold (an estimate; bound 8 MiB)",
                            core::MetricType::kGauge};
      by.series.push_back({{}, double(baseline_->bytes()), {}});
      out.push_back(std::move(w));
      out.push_back(std::move(d));
      out.push_back(std::move(by));
    }
  }
  core::MetricFamily fail{"sightline_alert_deliveries_failed_total",
                          "Alert deliveries that failed or were dropped (queue full), by output",
                          core::MetricType::kCounter};
  for (const char* o : {"webhook", "alertmanager"}) {
    auto it = failed_.find(o);
    fail.series.push_back({{{"output", o}}, double(it == failed_.end() ? 0 : it->second), {}});
  }
  core::MetricFamily rel{"sightline_rules_reloads_total", "Rule reloads (SIGHUP), by result; a failed one keeps the "
                         "previous rules", core::MetricType::kCounter};
  rel.series.push_back({{{"result", "ok"}}, double(reloads_ok_), {}});
  rel.series.push_back({{{"result", "failed"}}, double(reloads_failed_), {}});
  out.push_back(std::move(rel));
  out.push_back(std::move(fired));
  out.push_back(std::move(sup));
  out.push_back(std::move(fail));
}

}  // namespace sightline::rules
