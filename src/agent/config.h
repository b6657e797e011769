// The agent's configuration: a struct with defaults in code, filled from YAML with validation
// that names the file, line and key. `sightline config check` and `config default` use it.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/bpf_cost.h"
#include "core/status.h"
#include "sources/options.h"

namespace sightline::agent {

// A source's section, `sources.<name>`: the common keys, and the source's own options (the
// struct its header declares; their keys, bounds and docs are the source's).
struct SourceConfig {
  bool enabled = true;
  bool failed_only = false;  // where the source knows failures (failed exec/open, non-zero exits)
  uint32_t ring_bytes = 0;   // where the source streams; 0: the source's default
  sources::OwnHolder own;
  template <class T>
  T& own_as() { return own.as<T>(); }
};

// A user-space function the agent probes: calls per process, and latency if asked.
struct UprobeConfig {
  std::string target;  // BINARY:SYMBOL (sightline uprobe --help)
  bool latency = false;
};

// A tracepoint the agent aggregates in the kernel: counted by a field, or a field's histogram.
struct TracepointConfig {
  std::string event;  // CATEGORY:NAME
  std::string count_by, hist;
};

// Detection rules: the built-in set, then these files; alerts to these outputs.
struct RulesConfig {
  bool enabled = true;
  bool defaults = true;
  std::vector<std::string> files;
  double rate_per_rule = 5;  // alerts per second per rule, sustained (burst 20)
  // Rules with `action: kill` act in the kernel; false: they only report what they would do.
  bool enforce = true;
  // Learnt behaviour (rules/baseline.h): each workload's profile over its first `window`, then
  // alerts on what is new.
  bool baseline = true;
  uint32_t baseline_window_s = 3600;
  uint32_t baseline_max_workloads = 1024, baseline_max_items = 256;
  std::string baseline_file;  // where profiles are kept across restarts ("": beside the store)
  // Alerts printed on stdout: on, off, or (unset, `auto`) when stdout is a terminal, as Falco
  // does: a foreground agent shows what fires, one under systemd keeps its journal quiet.
  std::optional<bool> stdout_alerts;
  std::string json_file, webhook, alertmanager;
};

// The event kinds the store and the exporters keep unless told otherwise: all but the frequent
// open and fork. connect and accept flow only with sources.net.handshakes, packet_drop with
// sources.packets.drop_events, stat with sources.file.stats, block_io with
// sources.block.io_events, flow with sources.packets.flows, slow_io with sources.file.slow_io, file_lifetime with sources.file.lifetimes,
// cachestat (one a second) with sources.block.page_cache, anomaly with anomaly.enabled.
inline std::vector<std::string> default_kept_kinds() {
  return {"exec",  "exit",    "tcp",     "connect", "accept", "retransmit", "packet_drop", "flow", "slow_io", "file_lifetime", "stat",
          "block_io", "cachestat", "mount", "syscall", "request", "uprobe", "signal", "oom_kill", "anomaly"};
}

// The embedded SQLite store (sightline query).
struct StoreConfig {
  bool enabled = true;
  std::string path = "/var/lib/sightline/sightline.db";
  uint64_t retention_s = 7 * 86400;  // rows older are deleted
  uint64_t max_bytes = 1ULL << 30;   // the file stays under this, oldest rows going first
  // Event kinds kept. open and fork are the frequent ones: add them to keep every file open.
  std::vector<std::string> kinds = default_kept_kinds();
  uint32_t metrics_interval_s = 15;  // the agent's metrics are sampled into the store this often
  bool profiles = true;              // the continuous profile, per minute
  uint32_t max_event_rows_per_s = 2000;  // event rows stored per second at most (failed ones always); 0: all
  // Request rows per endpoint (process, protocol, role, method, target) per second, a minute's
  // burst; the rest add their weight to the endpoint's last row (exact sum(l7_weight)). 0: off.
  double request_rows_per_endpoint_per_s = 1;
};

// Exporters to the backends people run; each with a queue, retries and the shared spool.
struct ExportConfig {
  std::string node;  // the node label every exporter adds; empty: the host name
  std::string spool_dir = "/var/lib/sightline/spool";
  uint64_t spool_max_bytes = 256ULL << 20;  // per exporter
  std::string remote_write_url;             // http://host:port/api/v1/write
  uint32_t remote_write_interval_s = 15;
  std::string clickhouse_url;               // http://host:8123
  std::string clickhouse_database = "sightline";
  std::vector<std::string> clickhouse_kinds = default_kept_kinds();
  bool clickhouse_profiles = true;          // the per-minute profiles, table profiles
  uint32_t batch_ms = 1000;                 // rows are sent at least this often
  // OTLP/HTTP (an OpenTelemetry Collector, or `sightline aggregator`): metrics every interval,
  // events of these kinds and alerts as logs, requests as spans.
  std::string otlp_url;                     // http://host:4318
  std::string otlp_token;                   // sent as "Authorization: Bearer" (an aggregator's api_token)
  uint32_t otlp_interval_s = 15;
  std::vector<std::string> otlp_log_kinds = default_kept_kinds();
  bool otlp_traces = true;
  bool otlp_alerts = true;
  bool otlp_profiles = true;                // the per-minute profiles as sightline.profile log records
  uint64_t queue_bytes = 16ULL << 20;       // per exporter, in memory (set from memory_limit)
};

// `sightline aggregator`: what it does with what agents send.
struct AggregatorConfig {
  bool keep_node_label = false;  // false: series of all nodes are summed into one
  uint32_t interval_s = 15;      // merged metrics are forwarded this often
  uint64_t max_series = 100000;  // merged series kept at most (the rest counted, dropped)
  uint32_t stale_s = 300;        // a node's series not refreshed for this long leave the sums
  // Where the UI's metric charts over the fleet read (PromQL): the Prometheus or VictoriaMetrics
  // the merged metrics go to, http://host:port; empty: no charts.
  std::string prometheus;
};

// The agent's own cost (agent/governor.h): BPF run time plus its CPU, as a share of the node.
struct OverheadConfig {
  double max_cpu_percent = 2.0;  // 0: no governor
  BpfStatsMode bpf_stats = BpfStatsMode::kAuto;  // agent/bpf_cost.h
};

// Anomaly detection (core/anomaly.h, agent/anomaly_watch.h): the agent's own series modelled
// every interval, an `anomaly` event when one leaves its usual range or comes back.
struct AnomalyConfig {
  bool enabled = true;
  uint32_t interval_s = 10;
  double threshold = 5;         // robust z
  uint32_t warmup_points = 12;  // recent points before the first verdict
  uint32_t max_series = 1000;
  uint32_t min_requests = 20;   // an interval's requests below which its error ratio is not judged
  std::string file;             // the models across restarts; "": anomaly_models.bin beside the store
};

struct AgentConfig {
  std::string listen = "127.0.0.1:9190";
  std::string api_token;          // required when listen is not loopback (default: $SIGHTLINE_API_TOKEN)
  // Paths the TCP listener serves without the token: only /healthz and /metrics may be (read-only
  // aggregates, as a node exporter's); /api/*, /profile, live events and the UI never are.
  std::vector<std::string> public_paths = {"/healthz", "/metrics"};
  // HTTPS on the TCP listener when both are set (PEM files).
  std::string tls_cert, tls_key;
  std::string api_socket = "/run/sightline/api.sock";  // the same API on a Unix socket (0600); empty: off
  // Pins the sources' maps under this bpffs directory (bpftool map dump pinned ...); empty: off.
  std::string pin_maps;
  // Only tasks of this cgroup v2 directory (exactly: not its children); empty: every task. For
  // several agents on one kernel, each with a node's processes (the fleet test's three nodes).
  std::string cgroup;
  uint32_t poll_interval_ms = 100;
  std::string log_level = "info";
  uint64_t max_processes = 131072;
  // The agent's memory budget: user space (RSS less the BPF maps it maps) plus the kernel's map
  // memory. Its large structures take their sizes from it; near it the agent sheds caches, then
  // detail (agent/memory.h). A value below what the enabled sources need is refused at start.
  uint64_t memory_limit = 128ULL << 20;
  // Dimensions of per-process metrics: comm, container_id, pid (pid multiplies series: the
  // per-family cap and its __overflow__ series bound it).
  std::vector<std::string> process_labels = {"comm"};
  std::map<std::string, SourceConfig> sources;  // every registered source, enabled by default
  std::vector<UprobeConfig> uprobes;            // the uprobe source runs when there are some
  std::vector<TracepointConfig> tracepoints;    // the tracepoint source runs when there are some
  RulesConfig rules;
  StoreConfig store;
  ExportConfig exporters;
  AggregatorConfig aggregator;
  OverheadConfig overhead;
  AnomalyConfig anomaly;
};

AgentConfig default_config();
// Where the anomaly models are kept across restarts: anomaly.file, else beside the store; "" when
// neither (the store off): they are not kept.
std::string anomaly_file(const AgentConfig& c);
// The defaults as a commented YAML file (what `sightline config default` prints).
std::string default_config_yaml();
// Parses `text` (named `origin` in messages) over the defaults.
core::Status parse_config(std::string_view text, std::string_view origin, AgentConfig* out);
core::Status load_config(const std::string& path, AgentConfig* out);
// Where learnt profiles are kept: rules.baseline.file, else baseline.json beside the store
// (empty when neither: the store is off).
std::string baseline_file(const AgentConfig& c);
// "host:port" -> parts; false with a message on a bad address.
core::Status split_listen(const std::string& listen, std::string* host, int* port);
// The one rule for every listener, however it was set (file, --listen): a valid host:port, and
// an address beyond loopback only with a token.
core::Status check_listen(const std::string& listen, const std::string& token, std::string* host, int* port);

}  // namespace sightline::agent
