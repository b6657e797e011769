#include "agent/config.h"

#include <yaml-cpp/yaml.h>

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "core/files.h"
#include "core/schema.h"
#include "sources/source.h"
#include "core/units.h"

namespace sightline::agent {
namespace {

std::string where(std::string_view origin, const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  std::string s(origin);
  if (m.line >= 0) s += ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  return s;
}

template <class Strings>
std::string join(const Strings& keys) {
  std::string s;
  for (const auto& k : keys) s += (s.empty() ? "" : ", ") + k;
  return s;
}

core::Status unknown_keys(std::string_view origin, const YAML::Node& map, const std::string& path,
                          const std::set<std::string>& allowed) {
  if (!map.IsMap())
    return core::Status::error(EINVAL, where(origin, map) + ": " + (path.empty() ? "the file" : path) +
                                           " must be a mapping of keys to values");
  for (const auto& kv : map) {
    if (!kv.first.IsScalar())
      return core::Status::error(EINVAL, where(origin, kv.first) + ": " +
                                             (path.empty() ? "a key" : "a key under " + path) +
                                             " is a list or a mapping: keys are names");
    std::string k = kv.first.as<std::string>();
    if (!allowed.count(k))
      return core::Status::error(EINVAL, where(origin, kv.first) + ": unknown key '" +
                                             (path.empty() ? "" : path + ".") + k +
                                             "' (expected one of: " + join(allowed) + ")");
  }
  return {};
}

template <class T>
core::Status get(std::string_view origin, const YAML::Node& parent, const char* key,
                 const std::string& path, T* out, T lo = T(), T hi = T()) {
  YAML::Node n = parent[key];
  if (!n) return {};
  std::string full = path.empty() ? key : path + "." + key;
  try {
    if (!n.IsScalar()) throw YAML::Exception(n.Mark(), "not a scalar");
    T v = n.as<T>();
    if constexpr (std::is_arithmetic_v<T> && !std::is_same_v<T, bool>) {
      if (v < lo || v > hi)
        return core::Status::error(EINVAL, where(origin, n) + ": " + full + ": " + n.Scalar() +
                                               " is out of range (" + std::to_string(lo) + " to " +
                                               std::to_string(hi) + ")");
    }
    *out = v;
  } catch (const YAML::Exception&) {
    const char* what = std::is_same_v<T, bool> ? "true or false"
                       : std::is_arithmetic_v<T> ? "a whole number"
                                                 : "a string";
    return core::Status::error(EINVAL, where(origin, n) + ": " + full + ": expected " + what +
                                           ", got '" + (n.IsScalar() ? n.Scalar() : "a list or map") + "'");
  }
  return {};
}

// A list of strings: each item a non-empty scalar.
core::Status get_strings(std::string_view origin, const YAML::Node& parent, const char* key,
                         const std::string& path, std::vector<std::string>* out) {
  YAML::Node n = parent[key];
  if (!n) return {};
  std::string full = path.empty() ? key : path + "." + key;
  if (!n.IsSequence())
    return core::Status::error(EINVAL, where(origin, n) + ": " + full + ": expected a list of names");
  std::vector<std::string> v;
  for (const auto& item : n) {
    if (!item.IsScalar() || item.Scalar().empty())
      return core::Status::error(EINVAL, where(origin, item) + ": " + full + ": each item must be a name");
    v.push_back(item.Scalar());
  }
  *out = std::move(v);
  return {};
}

// A scalar read through `parse` (a duration, a size): errors name the key.
template <class Parse>
core::Status get_parsed(std::string_view origin, const YAML::Node& parent, const char* key, const std::string& path,
                        Parse parse, uint64_t* out) {
  YAML::Node n = parent[key];
  if (!n) return {};
  std::string full = path.empty() ? key : path + "." + key;
  if (!n.IsScalar()) return core::Status::error(EINVAL, where(origin, n) + ": " + full + ": expected a scalar");
  if (auto e = parse(n.Scalar(), out); !e) return core::Status::error(EINVAL, where(origin, n) + ": " + full + ": " + e.message());
  return {};
}

// A duration in whole seconds within [lo, hi] (0 allowed when lo is 0).
core::Status get_seconds(std::string_view origin, const YAML::Node& parent, const char* key, const std::string& path,
                         uint64_t lo, uint64_t hi, uint32_t* out) {
  uint64_t v = *out;
  if (auto e = get_parsed(origin, parent, key, path, core::parse_duration, &v); !e) return e;
  if (v < lo || v > hi)
    return core::Status::error(EINVAL, where(origin, parent[key]) + ": " + path + "." + key + ": " + std::to_string(lo) +
                                           "s to " + std::to_string(hi) + "s");
  *out = static_cast<uint32_t>(v);
  return {};
}

// A list of event kinds (exec, open ...).
core::Status get_kinds(std::string_view origin, const YAML::Node& parent, const char* key, const std::string& path,
                       std::vector<std::string>* out) {
  if (auto e = get_strings(origin, parent, key, path, out); !e) return e;
  for (const auto& k : *out)
    if (!core::find_kind(k)) {
      std::set<std::string> names;
      for (const auto& d : core::kinds()) names.insert(std::string(d.name));
      return core::Status::error(EINVAL, where(origin, parent[key]) + ": " + path + "." + key + ": '" + k +
                                             "' is not an event kind (one of: " + join(names) + ")");
    }
  return {};
}

// `key: value  # doc` for each of a source's own options, at their defaults.
class OptionPrinter final : public sources::OptionVisitor {
 public:
  OptionPrinter(std::ostream& o, std::string indent) : o_(o), indent_(std::move(indent)) {}
  void flag(std::string_view key, bool& v, std::string_view doc) override {
    line(key, v ? "true" : "false", doc);
  }
  void number(std::string_view key, uint32_t& v, uint32_t, uint32_t, std::string_view doc) override {
    line(key, std::to_string(v), doc);
  }
  void names(std::string_view key, std::vector<std::string>& v, std::string_view doc) override {
    std::string list;
    for (const auto& n : v) {  // quoted: `{` and `*` mean something in YAML
      std::string q = "\"";
      for (char c : n) q += c == '"' || c == '\\' ? std::string("\\") + c : std::string(1, c);
      list += (list.empty() ? "" : ", ") + q + "\"";
    }
    line(key, "[" + list + "]", doc);
  }

 private:
  void line(std::string_view key, const std::string& value, std::string_view doc) {
    o_ << indent_ << key << ": " << value << "  # " << doc << "\n";
  }
  std::ostream& o_;
  std::string indent_;
};

// The keys a source's own options have (to name them in unknown-key errors).
class OptionKeys final : public sources::OptionVisitor {
 public:
  explicit OptionKeys(std::set<std::string>* keys) : keys_(keys) {}
  void flag(std::string_view key, bool&, std::string_view) override { keys_->emplace(key); }
  void number(std::string_view key, uint32_t&, uint32_t, uint32_t, std::string_view) override { keys_->emplace(key); }
  void names(std::string_view key, std::vector<std::string>&, std::string_view) override { keys_->emplace(key); }

 private:
  std::set<std::string>* keys_;
};

// Reads a source's own options from its section; the first error is kept, naming the key.
class OptionReader final : public sources::OptionVisitor {
 public:
  OptionReader(std::string_view origin, const YAML::Node& node, std::string path)
      : origin_(origin), node_(node), path_(std::move(path)) {}
  void flag(std::string_view key, bool& v, std::string_view) override {
    if (st_) st_ = get<bool>(origin_, node_, std::string(key).c_str(), path_, &v);
  }
  void number(std::string_view key, uint32_t& v, uint32_t lo, uint32_t hi, std::string_view) override {
    if (st_) st_ = get<uint32_t>(origin_, node_, std::string(key).c_str(), path_, &v, lo, hi);
  }
  void names(std::string_view key, std::vector<std::string>& v, std::string_view) override {
    if (st_) st_ = get_strings(origin_, node_, std::string(key).c_str(), path_, &v);
  }
  const core::Status& status() const { return st_; }

 private:
  std::string_view origin_;
  const YAML::Node& node_;
  std::string path_;
  core::Status st_;
};

}  // namespace

AgentConfig default_config() {
  AgentConfig c;
  // A token from the environment (a Kubernetes Secret as an env var), unless a file sets one.
  if (const char* t = getenv("SIGHTLINE_API_TOKEN"); t && *t) c.api_token = t;
  for (const auto* s : sources::registry()) {
    SourceConfig& sc = c.sources[std::string(s->name)];
    sc.enabled = !s->off_by_default;
    if (s->options) sc.own = sources::OwnHolder(s->options());
  }
  return c;
}

std::string default_config_yaml() {
  std::ostringstream o;
  AgentConfig c = default_config();
  std::string kept_kinds = "[" + join(default_kept_kinds()) + "]";
  o << "# sightline agent configuration (these are the built-in defaults)\n"
    << "# HTTP listener for /metrics, /healthz, the API and the UI. A non-loopback address needs\n"
    << "# api_token (or $SIGHTLINE_API_TOKEN), asked of every path but public_paths (only /healthz\n"
    << "# and /metrics may be; [] asks it everywhere). tls: HTTPS with these PEM files.\n"
    << "listen: " << c.listen << "\n"
    << "api_token: \"\"\n"
    << "public_paths: [/healthz, /metrics]\n"
    << "tls: {cert: \"\", key: \"\"}\n"
    << "# The same API on a Unix socket, the agent's user only (mode 0600); \"\" turns it off.\n"
    << "api_socket: " << c.api_socket << "\n"
    << "# Pin the sources' aggregation maps here for bpftool and other readers (removed at stop),\n"
    << "# e.g. /sys/fs/bpf/sightline; \"\": not pinned.\n"
    << "pin_maps: \"\"\n"
    << "# Only tasks of this cgroup v2 directory (exactly, not its children), e.g.\n"
    << "# /sys/fs/cgroup/node-a: several agents on one kernel, each with its share. \"\": every task.\n"
    << "cgroup: \"\"\n"
    << "# How often sources are drained when the kernel has not forced a wakeup (10-10000).\n"
    << "poll_interval_ms: " << c.poll_interval_ms << "\n"
    << "# trace, debug, info, warn, error\n"
    << "log_level: " << c.log_level << "\n"
    << "# Bound of the process table (processes tracked at once).\n"
    << "max_processes: " << c.max_processes << "\n"
    << "# The agent's memory budget (a size: 128MiB, 1GiB): its own memory (RSS less the BPF maps it\n"
    << "# maps, whose rings RSS shows twice) plus the kernel's map memory. Store queue, SQLite cache,\n"
    << "# symbol caches and a query's bound take their share of it. Near it the agent sheds caches\n"
    << "# (80%), then detail (90%), counted in sightline_memory_shed_total{what}. A limit below what\n"
    << "# the enabled sources need is refused at start, with the minimum.\n"
    << "memory_limit: 128MiB\n"
    << "# Labels of per-process metrics, any of: comm (process name), container_id, pid.\n"
    << "# pid multiplies series; every family is capped and folds the rest into __overflow__.\n"
    << "process_labels: [comm]\n"
    << "# User-space functions to count (and time): BINARY:SYMBOL, see `sightline uprobe --help`.\n"
    << "# uprobes:\n"
    << "#   - {target: \"libc:malloc\", latency: false}\n"
    << "uprobes: []\n"
    << "# Any tracepoint, aggregated in the kernel: counted by a field or a field's histogram.\n"
    << "# tracepoints:\n"
    << "#   - {event: \"syscalls:sys_enter_kill\", count_by: sig}\n"
    << "#   - {event: \"block:block_rq_issue\", hist: bytes}\n"
    << "tracepoints: []\n"
    << "# The agent's own cost: its BPF programs' run time plus its CPU, measured every second as a\n"
    << "# share of the node's CPUs. Over the budget for 3 s it sheds a level of detail (1: L7 detail\n"
    << "# 1 in 8x sources.l7.sample, syscall latency off (counts stay); 2: L7 64x; 3: only failed or\n"
    << "# slow exchanges); under half of it for\n"
    << "# 10 s it restores one. Kernel counts never degrade; events the rules read are never shed.\n"
    << "# sightline_governor_level, /healthz. 0: off.\n"
    << "# The BPF run time comes from the kernel's bpf_stats, which cost every BPF program run on the\n"
    << "# node two clock reads: sampled keeps them on one second in five and estimates the rest;\n"
    << "# always (exact sightline_bpf_program_run_seconds_total); off (the agent's own CPU only);\n"
    << "# auto: sampled from kernel 6.4 on, always before (switching them patches kernel text, which\n"
    << "# livelocked a 6.1 node under memory pressure).\n"
    << "overhead:\n"
    << "  max_cpu_percent: " << c.overhead.max_cpu_percent << "\n"
    << "  bpf_stats: " << bpf_stats_mode_name(c.overhead.bpf_stats) << "\n"
    << "# Anomalies without thresholds: every interval the agent models its series (RED per service\n"
    << "# and endpoint, node CPU, run-queue and disk latency, retransmits, its own losses) against\n"
    << "# what is usual for them (the same hour of the week or day once seen, the recent past before)\n"
    << "# and sends an anomaly event when one leaves it by more than threshold spreads (the rule\n"
    << "# `anomaly` alerts). GET /api/v1/anomalies; sightline anomaly-eval measures the detector.\n"
    << "anomaly:\n"
    << "  enabled: " << (c.anomaly.enabled ? "true" : "false") << "\n"
    << "  interval_s: " << c.anomaly.interval_s << "\n"
    << "  threshold: " << c.anomaly.threshold << "\n"
    << "  warmup_points: " << c.anomaly.warmup_points << "\n"
    << "  max_series: " << c.anomaly.max_series << "  # more are counted, not modelled (~2.6 KB each)\n"
    << "  min_requests: " << c.anomaly.min_requests << "\n"
    << "  file: \"" << c.anomaly.file << "\"  # the models across restarts; \"\": anomaly_models.bin beside the store\n"
    << "# Detection rules (sightline rules list): the built-in set, then these files (reloaded on\n"
    << "# SIGHUP); alerts to stdout, a JSON-lines file, a webhook, Prometheus Alertmanager.\n"
    << "rules:\n"
    << "  enabled: true\n"
    << "  defaults: true\n"
    << "  files: []\n"
    << "  rate_per_rule: 5  # alerts per second per rule (bursts of 20)\n"
    << "  enforce: true     # rules with action: kill act; false: they report what they would do\n"
    << "  # Learnt behaviour: each workload's (container, else executable) programs run, directories\n"
    << "  # written, outbound destinations and accepted ports over its first `window`; then an alert\n"
    << "  # for each new one (a workload that never settles is reported once). Kept across restarts in\n"
    << "  # `file` (empty: baseline.json beside store.path, when the store is on).\n"
    << "  baseline: {enabled: true, window: 1h, max_workloads: 1024, max_items: 256, file: \"\"}\n"
    << "  stdout: auto     # true, false, or auto: printed when stdout is a terminal\n"
    << "  json_file: \"\"\n"
    << "  webhook: \"\"       # http://host:port/path, one JSON alert per POST\n"
    << "  alertmanager: \"\"  # http://127.0.0.1:9093\n"
    << "# The embedded store: events, alerts, metric samples and profiles in one SQLite file,\n"
    << "# read with `sightline query` or GET /api/v1/query. Kinds: " << [] {
         std::vector<std::string> k;
         for (const auto& d : core::kinds()) k.emplace_back(d.name);
         return join(k);
       }() << ".\n"
    << "store:\n"
    << "  enabled: true\n"
    << "  path: " << c.store.path << "\n"
    << "  retention: 7d      # rows older than this are deleted (s, m, h, d, w)\n"
    << "  max_size: 1GiB     # the file stays under this; the oldest rows go first\n"
    << "  kinds: " << kept_kinds << "  # add open, fork to keep those too\n"
    << "  metrics_interval: 15s  # the agent's /metrics sampled into the store\n"
    << "  profiles: true     # the continuous CPU profile, per minute (profile source)\n"
    << "  # Event rows stored per second at most; failed ones (errors, failed execs and opens) always.\n"
    << "  # Past it every 16th row of a kind is kept (more apart past 16 times it), weighing those\n"
    << "  # since the last kept (SELECT sum(evt_weight) estimates the count), the rest counted\n"
    << "  # (sightline_store_rows_over_rate_total). 0: every row.\n"
    << "  max_event_rows_per_s: " << c.store.max_event_rows_per_s << "\n"
    << "  # Request rows per endpoint (process, protocol, role, method, normalized target) a second at\n"
    << "  # most, with a minute's burst; all endpoints share max_size / retention / 256 bytes (a week\n"
    << "  # of full load in 1GiB). Failed ones: each of a storm's first ten minutes, then 1/s. The\n"
    << "  # others add their weight to the endpoint's last row: SELECT sum(l7_weight) is the exact\n"
    << "  # count. 0: a row per request (up to max_event_rows_per_s).\n"
    << "  request_rows_per_endpoint_per_s: " << c.store.request_rows_per_endpoint_per_s << "\n"
    << "# Exporters: each has a bounded queue, retries with backoff and an on-disk spool (in\n"
    << "# spool_dir) that keeps what a backend missed while it was down, across restarts too.\n"
    << "exporters:\n"
    << "  node: \"\"            # the node label of everything exported; empty: the host name\n"
    << "  spool_dir: " << c.exporters.spool_dir << "\n"
    << "  spool_max_size: 256MiB  # per exporter; beyond it the oldest batch goes\n"
    << "  batch: 1s              # rows are sent at least this often\n"
    << "  remote_write:          # Prometheus, VictoriaMetrics, Mimir, Thanos receive ...\n"
    << "    url: \"\"            # http://127.0.0.1:9090/api/v1/write\n"
    << "    interval: 15s\n"
    << "  clickhouse:            # events as rows over the HTTP interface; tables made if missing\n"
    << "    url: \"\"            # http://127.0.0.1:8123\n"
    << "    database: sightline\n"
    << "    kinds: " << kept_kinds << "\n"
    << "    profiles: true       # the continuous profile, a row per stack and minute (table profiles)\n"
    << "  otlp:                  # OTLP/HTTP protobuf: an OpenTelemetry Collector, or sightline aggregator\n"
    << "    url: \"\"            # http://127.0.0.1:4318\n"
    << "    token: \"\"          # sent as a bearer token (the aggregator's api_token)\n"
    << "    interval: 15s        # metrics\n"
    << "    logs: " << kept_kinds << "  # events sent as log records\n"
    << "    traces: true         # L7 requests as spans\n"
    << "    alerts: true         # alerts as log records\n"
    << "    profiles: true       # the continuous profile, a log record a minute (sightline.profile)\n"
    << "# `sightline aggregator -c FILE` reads listen, api_token, exporters and this section.\n"
    << "aggregator:\n"
    << "  keep_node_label: false  # false: the series of all agents are summed into one\n"
    << "  interval: 15s           # merged metrics forwarded this often\n"
    << "  max_series: 100000\n"
    << "  stale: 5m               # a node's series that stop coming leave the sums\n"
    << "  prometheus: \"\"          # where the fleet UI's charts read (PromQL), http://host:9090\n"
    << "sources:\n";
  for (const auto* s : sources::registry()) {
    o << "  # " << s->doc << "\n"
      << "  " << s->name << ":\n"
      << (s->off_by_default ? "    enabled: false  # on when asked: a program on every syscall costs a busy node most\n"
                              : "    enabled: true\n");
    if (s->has_failed) o << "    failed_only: false  # only failures (failed execs and opens, non-zero exits ...)\n";
    if (s->streams) o << "    ring_bytes: 0  # 0: the source's default; rounded up to a power of two\n";
    if (SourceConfig& sc = c.sources[std::string(s->name)]; sc.own.get()) {
      OptionPrinter print(o, "    ");
      sc.own.get()->visit(print);
    }
  }
  return o.str();
}

core::Status parse_config_unguarded(std::string_view text, std::string_view origin,
                                    AgentConfig* out);

core::Status parse_config(std::string_view text, std::string_view origin, AgentConfig* out) {
  // yaml-cpp reports misuse by throwing; no exception leaves this layer.
  try {
    return parse_config_unguarded(text, origin, out);
  } catch (const YAML::Exception& e) {
    return core::Status::error(EINVAL, std::string(origin) + ":" + std::to_string(e.mark.line + 1) +
                                           ":" + std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

core::Status parse_config_unguarded(std::string_view text, std::string_view origin,
                                    AgentConfig* out) {
  AgentConfig c = default_config();
  YAML::Node root;
  try {
    root = YAML::Load(std::string(text));
  } catch (const YAML::ParserException& e) {
    return core::Status::error(EINVAL, std::string(origin) + ":" + std::to_string(e.mark.line + 1) +
                                           ":" + std::to_string(e.mark.column + 1) +
                                           ": YAML syntax: " + e.msg);
  }
  if (root.IsNull()) {
    *out = c;
    return {};
  }
  const std::set<std::string> top = {"listen", "api_token", "api_socket", "pin_maps", "cgroup", "poll_interval_ms", "log_level",
                                     "max_processes", "process_labels", "uprobes", "tracepoints", "rules", "sources",
                                     "store", "exporters", "aggregator", "overhead", "anomaly", "memory_limit",
                                     "public_paths", "tls"};
  if (auto st = unknown_keys(origin, root, "", top); !st) return st;
  if (auto st = get<std::string>(origin, root, "listen", "", &c.listen); !st) return st;
  if (auto st = get<std::string>(origin, root, "api_token", "", &c.api_token); !st) return st;
  if (auto st = get<std::string>(origin, root, "api_socket", "", &c.api_socket); !st) return st;
  if (auto st = get_strings(origin, root, "public_paths", "", &c.public_paths); !st) return st;
  for (const auto& p : c.public_paths)
    if (p != "/healthz" && p != "/metrics")
      return core::Status::error(EINVAL, where(origin, root["public_paths"]) + ": public_paths: '" + p +
                                             "' may not be served without the token (only /healthz and /metrics may)");
  if (YAML::Node tls = root["tls"]) {
    if (auto st = unknown_keys(origin, tls, "tls", {"cert", "key"}); !st) return st;
    if (auto st = get<std::string>(origin, tls, "cert", "tls", &c.tls_cert); !st) return st;
    if (auto st = get<std::string>(origin, tls, "key", "tls", &c.tls_key); !st) return st;
    if (c.tls_cert.empty() != c.tls_key.empty())
      return core::Status::error(EINVAL, where(origin, tls) + ": tls: set both cert and key (PEM files), or neither");
  }
  if (auto st = get<std::string>(origin, root, "pin_maps", "", &c.pin_maps); !st) return st;
  if (!c.pin_maps.empty() && !c.pin_maps.starts_with("/sys/fs/bpf/"))
    return core::Status::error(EINVAL, where(origin, root["pin_maps"]) + ": pin_maps: '" + c.pin_maps +
                                           "' is not under /sys/fs/bpf/ (the BPF file system)");
  if (auto st = get<std::string>(origin, root, "cgroup", "", &c.cgroup); !st) return st;
  if (!c.cgroup.empty() && c.cgroup.front() != '/')
    return core::Status::error(EINVAL, where(origin, root["cgroup"]) + ": cgroup: '" + c.cgroup +
                                           "' is not an absolute path (a cgroup v2 directory, /sys/fs/cgroup/...)");
  if (!c.api_socket.empty() && (c.api_socket.front() != '/' || c.api_socket.size() > 107))
    return core::Status::error(EINVAL, where(origin, root["api_socket"]) +
                                           ": api_socket: an absolute path of at most 107 bytes");
  if (auto st = get<uint32_t>(origin, root, "poll_interval_ms", "", &c.poll_interval_ms, 10, 10000); !st)
    return st;
  if (auto st = get<uint64_t>(origin, root, "max_processes", "", &c.max_processes, 64, 4194304); !st)
    return st;
  if (auto e = get_parsed(origin, root, "memory_limit", "", core::parse_size, &c.memory_limit); !e) return e;
  if (c.memory_limit < (32ULL << 20) || c.memory_limit > (1ULL << 40))
    return core::Status::error(EINVAL, where(origin, root["memory_limit"]) +
                                           ": memory_limit: from 32MiB to 1TiB (at start the agent also checks it holds what the enabled sources need)");
  if (auto st = get<std::string>(origin, root, "log_level", "", &c.log_level); !st) return st;
  static const std::set<std::string> levels = {"trace", "debug", "info", "warn", "error"};
  if (!levels.count(c.log_level))
    return core::Status::error(EINVAL, where(origin, root["log_level"]) + ": log_level: '" +
                                           c.log_level + "' is not one of: " + join(levels));
  std::string host;
  int port;
  if (auto st = check_listen(c.listen, c.api_token, &host, &port); !st)
    return core::Status::error(EINVAL, where(origin, root["listen"]) + ": listen: " + st.message());

  if (auto st = get_strings(origin, root, "process_labels", "", &c.process_labels); !st) return st;
  static const std::set<std::string> dims = {"comm", "container_id", "pid"};
  std::set<std::string> seen;
  for (const auto& d : c.process_labels) {
    if (!dims.count(d))
      return core::Status::error(EINVAL, where(origin, root["process_labels"]) + ": process_labels: '" + d +
                                             "' is not one of: " + join(dims));
    if (!seen.insert(d).second)
      return core::Status::error(EINVAL, where(origin, root["process_labels"]) +
                                             ": process_labels: '" + d + "' is listed twice");
  }
  if (YAML::Node ups = root["uprobes"]) {
    if (!ups.IsSequence())
      return core::Status::error(EINVAL, where(origin, ups) + ": uprobes: expected a list of {target, latency}");
    for (size_t i = 0; i < ups.size(); i++) {
      YAML::Node u = ups[i];
      std::string path = "uprobes[" + std::to_string(i) + "]";
      if (auto st = unknown_keys(origin, u, path, {"target", "latency"}); !st) return st;
      UprobeConfig uc;
      if (auto st = get<std::string>(origin, u, "target", path, &uc.target); !st) return st;
      if (auto st = get<bool>(origin, u, "latency", path, &uc.latency); !st) return st;
      if (uc.target.find(':') == std::string::npos || uc.target.front() == ':' || uc.target.back() == ':')
        return core::Status::error(EINVAL, where(origin, u) + ": " + path + ".target: '" + uc.target +
                                               "' is not BINARY:SYMBOL");
      c.uprobes.push_back(std::move(uc));
    }
  }
  if (YAML::Node tps = root["tracepoints"]) {
    if (!tps.IsSequence())
      return core::Status::error(EINVAL, where(origin, tps) + ": tracepoints: expected a list of {event, count_by | hist}");
    for (size_t i = 0; i < tps.size(); i++) {
      YAML::Node t = tps[i];
      std::string path = "tracepoints[" + std::to_string(i) + "]";
      if (auto st = unknown_keys(origin, t, path, {"event", "count_by", "hist"}); !st) return st;
      TracepointConfig tc;
      if (auto st = get<std::string>(origin, t, "event", path, &tc.event); !st) return st;
      if (auto st = get<std::string>(origin, t, "count_by", path, &tc.count_by); !st) return st;
      if (auto st = get<std::string>(origin, t, "hist", path, &tc.hist); !st) return st;
      if (tc.event.find(':') == std::string::npos)
        return core::Status::error(EINVAL, where(origin, t) + ": " + path + ".event: '" + tc.event +
                                               "' is not CATEGORY:NAME");
      if (tc.count_by.empty() == tc.hist.empty())
        return core::Status::error(EINVAL, where(origin, t) + ": " + path + ": set one of count_by or hist");
      c.tracepoints.push_back(std::move(tc));
    }
  }
  if (YAML::Node ov = root["overhead"]) {
    if (auto st = unknown_keys(origin, ov, "overhead", {"max_cpu_percent", "bpf_stats"}); !st) return st;
    if (auto st = get<double>(origin, ov, "max_cpu_percent", "overhead", &c.overhead.max_cpu_percent, 0.0, 100.0); !st)
      return st;
    std::string stats = bpf_stats_mode_name(c.overhead.bpf_stats);
    if (auto st = get<std::string>(origin, ov, "bpf_stats", "overhead", &stats); !st) return st;
    if (!parse_bpf_stats_mode(stats, &c.overhead.bpf_stats))
      return core::Status::error(EINVAL, where(origin, ov["bpf_stats"]) + ": overhead.bpf_stats: \"" + stats +
                                             "\" is not one of auto, sampled, always, off");
  }
  if (YAML::Node an = root["anomaly"]) {
    if (auto st = unknown_keys(origin, an, "anomaly",
                               {"enabled", "interval_s", "threshold", "warmup_points", "max_series", "min_requests", "file"});
        !st)
      return st;
    auto& a = c.anomaly;
    if (auto st = get<bool>(origin, an, "enabled", "anomaly", &a.enabled); !st) return st;
    if (auto st = get<uint32_t>(origin, an, "interval_s", "anomaly", &a.interval_s, 1, 3600); !st) return st;
    if (auto st = get<double>(origin, an, "threshold", "anomaly", &a.threshold, 1.0, 100.0); !st) return st;
    if (auto st = get<uint32_t>(origin, an, "warmup_points", "anomaly", &a.warmup_points, 3, 1000); !st) return st;
    if (auto st = get<uint32_t>(origin, an, "max_series", "anomaly", &a.max_series, 1, 1000000); !st) return st;
    if (auto st = get<uint32_t>(origin, an, "min_requests", "anomaly", &a.min_requests, 1, 1000000); !st) return st;
    if (auto st = get<std::string>(origin, an, "file", "anomaly", &a.file); !st) return st;
  }
  if (YAML::Node r = root["rules"]) {
    if (auto st = unknown_keys(origin, r, "rules", {"enabled", "defaults", "files", "rate_per_rule", "stdout",
                                                    "json_file", "webhook", "alertmanager", "enforce", "baseline"});
        !st)
      return st;
    RulesConfig& rc = c.rules;
    if (auto st = get<bool>(origin, r, "enabled", "rules", &rc.enabled); !st) return st;
    if (auto st = get<bool>(origin, r, "defaults", "rules", &rc.defaults); !st) return st;
    if (auto st = get<bool>(origin, r, "enforce", "rules", &rc.enforce); !st) return st;
    if (YAML::Node b = r["baseline"]) {
      if (!b.IsMap()) return core::Status::error(EINVAL, where(origin, b) + ": rules.baseline: expected a map");
      if (auto st = unknown_keys(origin, b, "rules.baseline", {"enabled", "window", "max_workloads", "max_items", "file"}); !st)
        return st;
      if (auto st = get<std::string>(origin, b, "file", "rules.baseline", &rc.baseline_file); !st) return st;
      if (auto st = get<bool>(origin, b, "enabled", "rules.baseline", &rc.baseline); !st) return st;
      if (auto st = get_seconds(origin, b, "window", "rules.baseline", 1, 30 * 86400, &rc.baseline_window_s); !st)
        return st;
      if (auto st = get<uint32_t>(origin, b, "max_workloads", "rules.baseline", &rc.baseline_max_workloads, 1u, 1000000u); !st)
        return st;
      if (auto st = get<uint32_t>(origin, b, "max_items", "rules.baseline", &rc.baseline_max_items, 1u, 100000u); !st)
        return st;
    }
    if (auto st = get_strings(origin, r, "files", "rules", &rc.files); !st) return st;
    if (auto st = get<double>(origin, r, "rate_per_rule", "rules", &rc.rate_per_rule, 0.001, 100000.0); !st) return st;
    if (YAML::Node so = r["stdout"]; so && so.IsScalar() && so.Scalar() == "auto") {
      rc.stdout_alerts.reset();
    } else if (so) {
      bool on = false;
      if (auto st = get<bool>(origin, r, "stdout", "rules", &on); !st)
        return core::Status::error(EINVAL, st.message() + " (or auto)");
      rc.stdout_alerts = on;
    }
    if (auto st = get<std::string>(origin, r, "json_file", "rules", &rc.json_file); !st) return st;
    if (auto st = get<std::string>(origin, r, "webhook", "rules", &rc.webhook); !st) return st;
    if (auto st = get<std::string>(origin, r, "alertmanager", "rules", &rc.alertmanager); !st) return st;
    for (const auto* url : {&rc.webhook, &rc.alertmanager})
      if (!url->empty() && !url->starts_with("http://"))
        return core::Status::error(EINVAL, where(origin, r) + ": rules: '" + *url + "' is not an http:// URL");
  }
  if (YAML::Node st = root["store"]) {
    if (auto e = unknown_keys(origin, st, "store", {"enabled", "path", "retention", "max_size", "kinds",
                                                    "metrics_interval", "profiles", "max_event_rows_per_s",
                                                    "request_rows_per_endpoint_per_s"});
        !e)
      return e;
    StoreConfig& sc = c.store;
    if (auto e = get<bool>(origin, st, "enabled", "store", &sc.enabled); !e) return e;
    if (auto e = get<bool>(origin, st, "profiles", "store", &sc.profiles); !e) return e;
    if (auto e = get<double>(origin, st, "request_rows_per_endpoint_per_s", "store", &sc.request_rows_per_endpoint_per_s, 0.0, 1e6); !e)
      return e;
    if (auto e = get<uint32_t>(origin, st, "max_event_rows_per_s", "store", &sc.max_event_rows_per_s, 0, 10000000); !e)
      return e;
    if (auto e = get<std::string>(origin, st, "path", "store", &sc.path); !e) return e;
    if (sc.path.empty()) return core::Status::error(EINVAL, where(origin, st) + ": store.path: empty");
    if (auto e = get_parsed(origin, st, "retention", "store", core::parse_duration, &sc.retention_s); !e) return e;
    if (auto e = get_parsed(origin, st, "max_size", "store", core::parse_size, &sc.max_bytes); !e) return e;
    if (sc.max_bytes && sc.max_bytes < (1u << 20))
      return core::Status::error(EINVAL, where(origin, st["max_size"]) + ": store.max_size: at least 1MiB (0: no bound)");
    if (auto e = get_seconds(origin, st, "metrics_interval", "store", 0, 86400, &sc.metrics_interval_s); !e) return e;
    if (auto e = get_kinds(origin, st, "kinds", "store", &sc.kinds); !e) return e;
  }
  if (YAML::Node ex = root["exporters"]) {
    if (auto e = unknown_keys(origin, ex, "exporters", {"node", "spool_dir", "spool_max_size", "batch", "remote_write",
                                                        "clickhouse", "otlp"});
        !e)
      return e;
    ExportConfig& xc = c.exporters;
    if (auto e = get<std::string>(origin, ex, "node", "exporters", &xc.node); !e) return e;
    if (auto e = get<std::string>(origin, ex, "spool_dir", "exporters", &xc.spool_dir); !e) return e;
    if (auto e = get_parsed(origin, ex, "spool_max_size", "exporters", core::parse_size, &xc.spool_max_bytes); !e) return e;
    uint32_t batch_s = xc.batch_ms / 1000;
    if (auto e = get_seconds(origin, ex, "batch", "exporters", 1, 60, &batch_s); !e) return e;
    xc.batch_ms = batch_s * 1000;
    auto url = [&](const YAML::Node& n, const std::string& path, std::string* out) -> core::Status {
      if (auto e = get<std::string>(origin, n, "url", path, out); !e) return e;
      if (!out->empty() && !out->starts_with("http://"))
        return core::Status::error(EINVAL, where(origin, n["url"]) + ": " + path + ".url: '" + *out +
                                               "' is not an http:// URL");
      return {};
    };
    if (YAML::Node rw = ex["remote_write"]) {
      if (auto e = unknown_keys(origin, rw, "exporters.remote_write", {"url", "interval"}); !e) return e;
      if (auto e = url(rw, "exporters.remote_write", &xc.remote_write_url); !e) return e;
      if (auto e = get_seconds(origin, rw, "interval", "exporters.remote_write", 1, 3600, &xc.remote_write_interval_s); !e)
        return e;
    }
    if (YAML::Node ot = ex["otlp"]) {
      if (auto e = unknown_keys(origin, ot, "exporters.otlp", {"url", "token", "interval", "logs", "traces", "alerts", "profiles"}); !e) return e;
      if (auto e = url(ot, "exporters.otlp", &xc.otlp_url); !e) return e;
      if (auto e = get_seconds(origin, ot, "interval", "exporters.otlp", 1, 3600, &xc.otlp_interval_s); !e) return e;
      if (auto e = get_kinds(origin, ot, "logs", "exporters.otlp", &xc.otlp_log_kinds); !e) return e;
      if (auto e = get<bool>(origin, ot, "traces", "exporters.otlp", &xc.otlp_traces); !e) return e;
      if (auto e = get<std::string>(origin, ot, "token", "exporters.otlp", &xc.otlp_token); !e) return e;
      if (auto e = get<bool>(origin, ot, "alerts", "exporters.otlp", &xc.otlp_alerts); !e) return e;
      if (auto e = get<bool>(origin, ot, "profiles", "exporters.otlp", &xc.otlp_profiles); !e) return e;
    }
    if (YAML::Node ch = ex["clickhouse"]) {
      if (auto e = unknown_keys(origin, ch, "exporters.clickhouse", {"url", "database", "kinds", "profiles"}); !e) return e;
      if (auto e = url(ch, "exporters.clickhouse", &xc.clickhouse_url); !e) return e;
      if (auto e = get<std::string>(origin, ch, "database", "exporters.clickhouse", &xc.clickhouse_database); !e) return e;
      if (xc.clickhouse_database.empty() ||
          xc.clickhouse_database.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_") !=
              std::string::npos)
        return core::Status::error(EINVAL, where(origin, ch["database"]) +
                                               ": exporters.clickhouse.database: letters, digits and _ only");
      if (auto e = get_kinds(origin, ch, "kinds", "exporters.clickhouse", &xc.clickhouse_kinds); !e) return e;
      if (auto e = get<bool>(origin, ch, "profiles", "exporters.clickhouse", &xc.clickhouse_profiles); !e) return e;
    }
  }
  if (YAML::Node ag = root["aggregator"]) {
    if (auto e = unknown_keys(origin, ag, "aggregator", {"keep_node_label", "interval", "max_series", "stale", "prometheus"}); !e)
      return e;
    AggregatorConfig& a = c.aggregator;
    if (auto e = get<bool>(origin, ag, "keep_node_label", "aggregator", &a.keep_node_label); !e) return e;
    if (auto e = get<uint64_t>(origin, ag, "max_series", "aggregator", &a.max_series, 100, 100000000); !e) return e;
    if (auto e = get_seconds(origin, ag, "interval", "aggregator", 1, 3600, &a.interval_s); !e) return e;
    if (auto e = get_seconds(origin, ag, "stale", "aggregator", 10, 86400, &a.stale_s); !e) return e;
    if (auto e = get<std::string>(origin, ag, "prometheus", "aggregator", &a.prometheus); !e) return e;
    if (!a.prometheus.empty() && !a.prometheus.starts_with("http://"))
      return core::Status::error(EINVAL, where(origin, ag["prometheus"]) + ": aggregator.prometheus: an http:// URL (Prometheus' address)");
  }
  if (YAML::Node srcs = root["sources"]) {
    std::set<std::string> names;
    for (const auto* s : sources::registry()) names.insert(std::string(s->name));
    if (auto st = unknown_keys(origin, srcs, "sources", names); !st) return st;
    for (const auto& kv : srcs) {
      std::string name = kv.first.as<std::string>();
      std::string path = "sources." + name;
      SourceConfig& sc = c.sources[name];
      if (kv.second.IsNull()) continue;
      const sources::SourceInfo* info = sources::find_source(name);
      std::set<std::string> keys = {"enabled"};
      if (info->has_failed) keys.insert("failed_only");
      if (info->streams) keys.insert("ring_bytes");
      OptionKeys own_keys(&keys);
      if (sc.own.get()) sc.own.get()->visit(own_keys);
      if (auto st = unknown_keys(origin, kv.second, path, keys); !st) return st;
      if (auto st = get<bool>(origin, kv.second, "enabled", path, &sc.enabled); !st) return st;
      if (auto st = get<bool>(origin, kv.second, "failed_only", path, &sc.failed_only); !st) return st;
      if (auto st = get<uint32_t>(origin, kv.second, "ring_bytes", path, &sc.ring_bytes, 0, 1u << 30); !st)
        return st;
      if (sc.own.get()) {
        OptionReader read(origin, kv.second, path);
        sc.own.get()->visit(read);
        if (!read.status()) return read.status();
        if (auto st = sc.own.get()->check(); !st)
          return core::Status::error(EINVAL, where(origin, kv.second) + ": " + path + "." + st.message());
      }
    }
  }
  *out = std::move(c);
  return {};
}

std::string anomaly_file(const AgentConfig& c) {
  if (!c.anomaly.file.empty()) return c.anomaly.file;
  if (!c.store.enabled || c.store.path.empty()) return {};
  size_t slash = c.store.path.rfind('/');
  return (slash == std::string::npos ? std::string() : c.store.path.substr(0, slash + 1)) + "anomaly_models.bin";
}

std::string baseline_file(const AgentConfig& c) {
  if (!c.rules.baseline_file.empty()) return c.rules.baseline_file;
  if (!c.store.enabled || c.store.path.empty()) return {};
  size_t slash = c.store.path.rfind('/');
  return (slash == std::string::npos ? std::string() : c.store.path.substr(0, slash + 1)) + "baseline.json";
}

core::Status load_config(const std::string& path, AgentConfig* out) {
  int err = 0;
  std::string text = core::read_file(path, 16u << 20, &err);
  if (err) return core::Status::error(err, path + ": cannot read: " + strerror(err));
  return parse_config(text, path, out);
}

core::Status check_listen(const std::string& listen, const std::string& token, std::string* host, int* port) {
  if (auto st = split_listen(listen, host, port); !st) return st;
  bool loopback = *host == "127.0.0.1" || *host == "localhost" || *host == "::1" || host->starts_with("127.");
  if (!loopback && token.empty())
    return core::Status::error(EINVAL, listen + " is not a loopback address: set api_token too (the API serves "
                                                "SQL over every stored event)");
  return {};
}

core::Status split_listen(const std::string& listen, std::string* host, int* port) {
  size_t colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 == listen.size())
    return core::Status::error(EINVAL, "'" + listen + "' is not host:port");
  std::string h = listen.substr(0, colon);
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  char* end;
  long p = std::strtol(listen.c_str() + colon + 1, &end, 10);
  if (*end || p < 1 || p > 65535)
    return core::Status::error(EINVAL, "'" + listen + "': port must be 1 to 65535");
  *host = h;
  *port = static_cast<int>(p);
  return {};
}

}  // namespace sightline::agent
