// Subcommands of the sightline binary; main.cpp parses the command line and calls these.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace sightline::cli {

// Set by SIGINT/SIGTERM; every long-running command polls it.
extern std::atomic<bool> g_stop;
extern std::atomic<bool> g_reload;  // SIGHUP
void install_signal_handlers();

struct TraceArgs {
  std::vector<std::string> kinds;  // exec fork exit open, or source names
  uint32_t pid = 0;
  std::string comm;
  std::string cgroup;  // cgroup v2 path (absolute, or relative to the v2 mount)
  bool failed = false;
  double duration_s = 0;
  bool json = false;
  bool no_header = false;
  uint32_t ring_bytes = 0;
  uint32_t poll_ms = 100;
  std::vector<std::string> uprobes;  // kind uprobe: BINARY:SYMBOL targets (sightline uprobe --args)
  // tp:CATEGORY:NAME kinds: any tracepoint
  std::string filter;    // tp: FIELD OP VALUE [&& ...] [|| ...]; event kinds: a rule-language condition
  std::string count_by;  // count by this field (in the kernel unless --filter)
  std::string hist;      // histogram of this integer field
  double interval_s = 0; // with --count-by/--hist: print every N s (0: at the end)
  bool uprobe_latency = false;
  uint32_t uprobe_str = 0;
  // flow and packet_drop (hubble observe's): composed into the filter
  std::string verdict;    // forwarded or dropped (flow)
  uint32_t port = 0;      // either end's
  std::string ip;         // either end's
  std::string container;  // the local end's container id
  uint32_t flow_timeout_s = 0;  // flow: idle end (0: the source's default)
  int64_t slow_ms = -1;         // slow_io: threshold (-1: the source's default)
  std::vector<std::string> l7_ports;  // requests: protocol:port (sources.l7.ports)
};
int trace(const TraceArgs& args);

struct AnomalyEvalArgs {
  uint64_t seed = 1;
  size_t series = 200;
  uint32_t train_days = 14, test_days = 7, step_s = 60;
  double threshold = 0;  // 0: the detector's default
  bool verbose = false;
};
int anomaly_eval(const AnomalyEvalArgs& args);
int trace_tracepoints(const TraceArgs& args);

struct UprobeArgs {
  std::vector<std::string> targets;  // BINARY:SYMBOL
  uint32_t pid = 0;
  bool latency = false;
  bool args = false;      // stream every call with arguments (and return value, with latency)
  uint32_t str_arg = 0;   // read this (1-based) argument as a string
  double duration_s = 0;  // 0: until Ctrl-C
  double interval_s = 0;  // summary every N s (0: at the end only)
  bool json = false;
};
int uprobe(const UprobeArgs& args);

struct TopArgs {
  double interval_s = 1;
  bool once = false;
  bool json = false;
  std::string sort = "cpu";  // cpu, syscalls, runq, disk
  size_t limit = 0;          // 0: the terminal's height, or 20
};
int top(const TopArgs& args);
struct ProfileArgs {
  uint32_t pid = 0;          // 0: every process
  double duration_s = 10;
  uint32_t hz = 99;
  bool off_cpu = false;
  std::string unwind = "kernel";  // kernel, dwarf or fp (user stacks)
  std::string output;        // empty: folded stacks on stdout
  std::string format;        // folded, pprof, svg; empty: from the output's extension
};
int profile(const ProfileArgs& args);
// Folded stacks -> SVG flame graph.
int flamegraph(const std::string& input, const std::string& output, const std::string& title);

int rules_validate(const std::vector<std::string>& files, bool with_defaults);
int rules_list(const std::vector<std::string>& files, bool with_defaults, bool json);
// Runs only the sources the rules need and prints alerts (text, or JSON lines).
int rules_run(const std::vector<std::string>& files, bool with_defaults, bool json, double duration_s, bool enforce);

struct QueryArgs {
  std::string sql;
  std::string db;      // the store's file; empty: from --config or the default
  std::string config;
  std::string format = "table";  // table, csv, json
  size_t limit = 10000;
  double timeout_s = 10;
  bool schema = false;
};
int query(const QueryArgs& args);
// The learnt profiles the agent keeps (a table, or --json).
int baseline(const std::string& config, const std::string& file, bool json);

int aggregator(const std::string& config_path, const std::string& listen);

// `verbose`: each source that can run is loaded, attached and run for a second; its events,
// losses and failed helper calls are listed.
int doctor(bool verbose = false);
// The capabilities the agent needs, one name per line (agent::agent_capabilities()).
int print_capabilities();
int schema(bool json);

}  // namespace sightline::cli
