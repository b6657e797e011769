// sightline: the command line. Parsing and help live here; the work lives in src/.
#include <CLI/CLI.hpp>
#include <signal.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>

#include "agent/agent.h"
#include "agent/config.h"
#include "bpf/libbpf_util.h"
#include "cli/commands.h"

namespace sightline::cli {

std::atomic<bool> g_stop{false};
std::atomic<bool> g_reload{false};

void install_signal_handlers() {
  struct sigaction sa = {};
  sa.sa_handler = [](int) { g_stop.store(true); };
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;  // no SA_RESTART: epoll_wait returns EINTR and the loop sees the flag
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  struct sigaction hup = {};
  hup.sa_handler = [](int) { g_reload.store(true); };
  sigemptyset(&hup.sa_mask);
  sigaction(SIGHUP, &hup, nullptr);
  signal(SIGPIPE, SIG_IGN);
}

}  // namespace sightline::cli

int main(int argc, char** argv) {
  using namespace sightline;
  CLI::App app{
      "sightline: an eBPF observability agent for Linux.\n"
      "Sees every exec, exit and file open on this node with no change to applications.\n"
      "Needs root (or CAP_BPF + CAP_PERFMON); `sightline doctor` checks this kernel."};
  app.require_subcommand(1);
  app.set_version_flag("--version", SIGHTLINE_VERSION);
  bool verbose = false;
  app.add_flag("-v,--verbose", verbose, "Debug logging, including libbpf's messages");

  // agent
  auto* agent_cmd = app.add_subcommand(
      "agent", "Run every source the kernel supports and serve /metrics and /healthz "
               "(default http://127.0.0.1:9190)");
  std::string config_path, listen;
  agent_cmd->add_option("-c,--config", config_path, "YAML configuration (see `sightline config default`)")
      ->check(CLI::ExistingFile);
  agent_cmd->add_option("--listen", listen, "host:port of the HTTP listener (overrides the config)");

  // trace
  cli::TraceArgs targs;
  auto* trace_cmd = app.add_subcommand(
      "trace", "Print live events: exec, fork, exit, open, tcp, syscall, request (or a source: process, file, "
               "net, security, l7), L7 requests of one protocol (http, http2, grpc, pgsql, mysql, redis, dns, memcached, nats, amqp), or any tracepoint as "
               "tp:CATEGORY:NAME");
  trace_cmd->add_option("kinds", targs.kinds, "Event kinds or sources to trace")->required();
  trace_cmd->add_option("-p,--pid", targs.pid, "Only this process id (filtered in the kernel)");
  trace_cmd->add_option("-c,--comm", targs.comm, "Only tasks with this name (exact, filtered in the kernel)");
  trace_cmd->add_option("--cgroup", targs.cgroup, "Only this cgroup v2 (path under the cgroup2 mount)");
  trace_cmd->add_flag("-x,--failed", targs.failed, "Only failures: failed exec/open, non-zero exit");
  trace_cmd->add_option("-d,--duration", targs.duration_s, "Stop after this many seconds")
      ->check(CLI::PositiveNumber);
  trace_cmd->add_flag("-j,--json", targs.json, "One JSON object per line (keys: `sightline schema`)");
  trace_cmd->add_flag("--no-header", targs.no_header, "Omit the table header");
  trace_cmd->add_option("--ring-bytes", targs.ring_bytes, "Kernel ring buffer size per source")
      ->check(CLI::Range(4096u, 1u << 30));
  trace_cmd->add_option("--poll-ms", targs.poll_ms, "Reader poll period when not woken (ms)")
      ->check(CLI::Range(1u, 10000u));
  trace_cmd->add_option("-f,--filter", targs.filter,
                        "Only events the condition matches: for event kinds the rule language (fields of `sightline "
                        "schema`, the built-in macros and lists; proc.name/proc.pid it requires go to the kernel), for "
                        "tp: FIELD OP VALUE (OP: == != < <= > >= ~glob; && ||)");
  trace_cmd->add_option("--verdict", targs.verdict, "flow: forwarded or dropped")
      ->check(CLI::IsMember({"forwarded", "dropped"}));
  trace_cmd->add_option("--port", targs.port, "flow, packet_drop: either end's port")->check(CLI::Range(1u, 65535u));
  trace_cmd->add_option("--ip", targs.ip, "flow, packet_drop: either end's address");
  trace_cmd->add_option("--flow-timeout", targs.flow_timeout_s,
                        "flow: a flow with no packet for this many seconds ends (default 60; TCP ends at FIN or RST)")
      ->check(CLI::Range(1u, 86400u));
  trace_cmd->add_option("--slow-ms", targs.slow_ms, "slow_io: reads, writes and syncs slower than this (ms; default 10, 0: all)")
      ->check(CLI::Range(0, 3600000));
  trace_cmd->add_option("--l7-port", targs.l7_ports,
                        "requests: PROTOCOL:PORT, that protocol on that port too (e.g. memcached:11212; pgsql, mysql, memcached, nats, amqp; repeatable)");
  trace_cmd->add_option("--container", targs.container, "Only events of this container (id, 12 hex digits)");
  trace_cmd->add_option("--count-by", targs.count_by, "tp: count records by this field (in the kernel)");
  trace_cmd->add_option("--hist", targs.hist, "tp: log2 histogram of this integer field (in the kernel)");
  trace_cmd->add_option("-i,--interval", targs.interval_s, "tp: with --count-by/--hist, print every N seconds")
      ->check(CLI::PositiveNumber);
  trace_cmd->footer(
      "\nExamples:\n"
      "  sightline trace exec                 every exec on the node, with argv\n"
      "  sightline trace open --failed        opens that fail (ENOENT, EACCES ...)\n"
      "  sightline trace process -p 1234      exec/fork/exit of one process\n"
      "  sightline trace open --json | jq .   machine-readable\n"
      "  sightline trace http                 HTTP requests served and made, with status and latency\n"
      "  sightline trace redis dns -c app     Redis commands and DNS lookups of processes named app\n"
      "  sightline trace open -f 'fd.name startswith /etc and not proc.name in (systemd, sshd)'\n"
      "  sightline trace signal -f 'sig.name = SIGKILL and target.name in (critical_processes)'\n"
      "  sightline trace flow --verdict dropped --port 443   flows and their dropped packets (hubble observe)\n"
      "  sightline trace bind                 bindsnoop: each bind, the address bound (or asked), the result\n"
      "  sightline trace slow_io --slow-ms 1  fsslower: file reads, writes, syncs over 1 ms, with the file's name\n"
      "  sightline trace tp:sched:sched_process_exec          any tracepoint, fields decoded\n"
      "  sightline trace tp:syscalls:sys_enter_openat --count-by dfd\n"
      "  sightline trace tp:block:block_rq_issue --hist bytes -i 1\n"
      "  sightline trace tp:sched:sched_switch -f 'prev_state == 1 && next_comm ~ \"kworker*\"'\n"
      "Loss is never silent: the closing summary counts lost events.");

  // top
  cli::TopArgs top_args;
  auto* top_cmd = app.add_subcommand(
      "top", "Live view of the busiest processes: CPU, syscalls, run-queue wait, disk bytes");
  top_cmd->add_option("-i,--interval", top_args.interval_s, "Refresh period in seconds")
      ->check(CLI::Range(0.2, 3600.0));
  top_cmd->add_option("-s,--sort", top_args.sort, "Sort by: cpu, syscalls, runq, disk, net")
      ->check(CLI::IsMember({"cpu", "syscalls", "runq", "disk", "net"}));
  top_cmd->add_option("-n,--rows", top_args.limit, "Rows to show (default: the terminal's height)");
  top_cmd->add_flag("--once", top_args.once, "Print one table after one interval and exit");
  top_cmd->add_flag("-j,--json", top_args.json, "JSON instead of a table (with --once: one object)");
  top_cmd->footer("\nKeys while running: c cpu, s syscalls, r run-queue, d disk, q quit.");

  // profile
  cli::ProfileArgs pargs;
  auto* profile_cmd = app.add_subcommand(
      "profile", "CPU profile (stack samples on every CPU) or off-CPU profile (time blocked, by stack)");
  profile_cmd->add_option("-p,--pid", pargs.pid, "Only this process (default: every process)");
  profile_cmd->add_option("-d,--duration", pargs.duration_s, "Seconds to profile (default 10)")
      ->check(CLI::Range(0.1, 86400.0));
  profile_cmd->add_option("-F,--hz", pargs.hz, "Samples per second on each CPU (default 99)")
      ->check(CLI::Range(1u, 10000u));
  profile_cmd->add_flag("--off-cpu", pargs.off_cpu, "Time spent blocked, by the stack that blocked");
  profile_cmd->add_option("--unwind", pargs.unwind,
                          "User stacks: kernel (walked in the kernel with tables built from the binaries' "
                          ".eh_frame: complete without frame pointers, nothing copied; default, kernel 5.17+), "
                          "dwarf (8 KiB of stack copied per on-CPU sample, unwound here with libdw) "
                          "or fp (frame pointers only)")
      ->check(CLI::IsMember({"kernel", "dwarf", "fp"}));
  profile_cmd->add_option("-o,--output", pargs.output,
                          "File to write (default: folded stacks on stdout); the format follows its "
                          "extension: .svg flame graph, .pb.gz/.pprof pprof, else folded");
  profile_cmd->add_option("--format", pargs.format, "folded, pprof or svg (overrides the extension)")
      ->check(CLI::IsMember({"folded", "pprof", "svg"}));
  profile_cmd->footer(
      "\nExamples:\n"
      "  sightline profile -d 30 -o node.svg           whole node, flame graph\n"
      "  sightline profile -p 1234 -o app.pb.gz        one process; go tool pprof -top app.pb.gz\n"
      "  sightline profile --off-cpu -p 1234           where it blocks, folded stacks on stdout\n"
      "The closing line gives the share of user stacks that reach main/_start/clone.\n"
      "Off-CPU stacks are walked as --unwind says, in the kernel at the switch (with dwarf: frame "
      "pointers).");

  std::string fg_in, fg_out, fg_title = "Flame graph";
  auto* fg_cmd = app.add_subcommand("flamegraph", "Render folded stacks (flamegraph.pl's input) as an SVG flame graph");
  fg_cmd->add_option("input", fg_in, "Folded stacks file, or - for stdin")->required();
  fg_cmd->add_option("-o,--output", fg_out, "SVG file (default: stdout)");
  fg_cmd->add_option("--title", fg_title, "Title of the graph");

  // uprobe
  cli::UprobeArgs uargs;
  auto* uprobe_cmd = app.add_subcommand(
      "uprobe", "Count, time and print calls of user-space functions by symbol (no recompiling)");
  uprobe_cmd->add_option("targets", uargs.targets,
                         "BINARY:SYMBOL: a path or a library/program name (libc, libssl.so.3, nginx), and "
                         "a function name, demangled C++ name, glob (malloc*, 'ns::Class::*') or offset (0x1234)")
      ->required();
  uprobe_cmd->add_option("-p,--pid", uargs.pid, "Only this process (and find libraries in its mappings)");
  uprobe_cmd->add_flag("-l,--latency", uargs.latency, "Time every call (entry to return) into histograms");
  uprobe_cmd->add_flag("-a,--args", uargs.args,
                       "Print every call: six integer arguments (and the return value with --latency)");
  uprobe_cmd->add_option("--str", uargs.str_arg, "With --args: also read argument N (1-6) as a string")
      ->check(CLI::Range(1u, 6u));
  uprobe_cmd->add_option("-d,--duration", uargs.duration_s, "Stop after this many seconds")
      ->check(CLI::PositiveNumber);
  uprobe_cmd->add_option("-i,--interval", uargs.interval_s, "Print the table every N seconds (default: at the end)")
      ->check(CLI::PositiveNumber);
  uprobe_cmd->add_flag("-j,--json", uargs.json, "JSON (the table as one object; with --args one per call)");
  uprobe_cmd->footer(
      "\nExamples:\n"
      "  sightline uprobe libc:malloc -p 1234 -d 10        calls of malloc in one process\n"
      "  sightline uprobe /usr/sbin/nginx:'ngx_http_*' -l   every ngx_http_ function, with latency\n"
      "  sightline uprobe libc:open --args --str 1          every open() call with its path\n"
      "  sightline uprobe ./app:'ns::Widget::spin(int)' -l  a C++ method by its demangled name");

  // rules
  auto* rules_cmd = app.add_subcommand("rules", "Check or list detection rules (the built-in set and rule files)");
  rules_cmd->require_subcommand(1);
  std::vector<std::string> rule_files;
  bool no_defaults = false, rules_json = false;
  auto* validate_cmd = rules_cmd->add_subcommand("validate", "Check rule files on top of the built-in set; "
                                                             "errors name file:line:col");
  validate_cmd->add_option("files", rule_files, "Rule files (YAML lists of list, macro and rule items)");
  validate_cmd->add_flag("--no-defaults", no_defaults, "Without the built-in rules");
  auto* list_cmd = rules_cmd->add_subcommand("list", "List the rules: priority, on/off, event types, name");
  list_cmd->add_option("files", rule_files, "Rule files on top of the built-in set");
  list_cmd->add_flag("--no-defaults", no_defaults, "Without the built-in rules");
  list_cmd->add_flag("-j,--json", rules_json, "As JSON");
  double rules_duration = 0;
  auto* run_cmd = rules_cmd->add_subcommand(
      "run", "Detect: run only the sources the rules need and print alerts as they happen");
  run_cmd->add_option("files", rule_files, "Rule files on top of the built-in set");
  run_cmd->add_flag("--no-defaults", no_defaults, "Without the built-in rules");
  run_cmd->add_flag("-j,--json", rules_json, "One JSON alert per line");
  run_cmd->add_option("-d,--duration", rules_duration, "Stop after this many seconds")->check(CLI::PositiveNumber);
  bool rules_dry_run = false;
  run_cmd->add_flag("--dry-run", rules_dry_run,
                    "Rules with an action (action: kill) only report what they would do (the agent's "
                    "rules.enforce: false)");
  run_cmd->footer(
      "\nRules with `action: kill` act in the kernel at the hook: the process that opens a matching\n"
      "file or execs a matching program gets SIGKILL before it runs another instruction. Their\n"
      "conditions must be an `and` of fd.name, proc.exepath, proc.name and user.uid comparisons\n"
      "(`rules validate` says which rules act and why others cannot).\n"
      "\nExample (kill.yaml):\n"
      "  - rule: Shadow read from /tmp\n"
      "    condition: evt.type = open and fd.name = /etc/shadow and proc.exepath startswith /tmp/\n"
      "    output: \"%proc.exepath opened %fd.name\"\n"
      "    priority: critical\n"
      "    action: kill\n"
      "  sightline rules run --no-defaults kill.yaml");

  bool doctor_verbose = false, doctor_caps = false;
  auto* doctor_cmd = app.add_subcommand(
      "doctor", "Check this kernel and these privileges; show which hooks each source will use");
  doctor_cmd->add_flag("-v,--verbose", doctor_verbose,
                       "Also load, attach and run each source for a second: events seen, and every helper call "
                       "that failed in the kernel, by file:line");
  doctor_cmd->add_flag("--capabilities", doctor_caps,
                       "Print the capabilities the agent needs, one per line (what a systemd unit or a "
                       "Kubernetes securityContext grants it), and exit");

  bool schema_json = false;
  auto* schema_cmd = app.add_subcommand("schema", "List every event kind and field");
  schema_cmd->add_flag("--json", schema_json, "As JSON");

  std::string bl_config, bl_file;
  bool bl_json = false;
  auto* baseline_cmd = app.add_subcommand("baseline", "Show the behaviour the agent learnt for each workload (rules.baseline)");
  baseline_cmd->footer(
      "\nThe agent learns each workload's (container, else executable) programs, write directories,\n"
      "outbound destinations, listening ports and security syscall kinds over rules.baseline.window,\n"
      "then alerts on what is new. It keeps the profiles across restarts in rules.baseline.file\n"
      "(default: baseline.json beside store.path), written every minute and at stop; this reads them.\n"
      "A running agent serves the live ones at GET /api/v1/baseline.");
  baseline_cmd->add_option("-c,--config", bl_config, "Agent configuration to take the file's place from")
      ->check(CLI::ExistingFile);
  baseline_cmd->add_option("--file", bl_file, "The profiles' file (default: from the configuration)");
  baseline_cmd->add_flag("--json", bl_json, "The file as it is");

  cli::AnomalyEvalArgs ae;
  auto* ae_cmd = app.add_subcommand(
      "anomaly-eval", "Evaluate the anomaly detector on synthetic series with labelled anomalies (precision, "
                      "recall, time to detect)");
  ae_cmd->footer(
      "\nSeries of four shapes (request rate, latency, error ratio, CPU) with daily and weekly cycles and\n"
      "noise; clean days first, then level shifts, spikes and slow drifts at known times. An alert is\n"
      "true when it starts inside a labelled anomaly. bench/anomaly_eval.sh runs it on three seeds.\n"
      "Example: sightline anomaly-eval --series 400 --seed 7");
  ae_cmd->add_option("--seed", ae.seed, "Random seed of the set");
  ae_cmd->add_option("--series", ae.series, "Series in the set")->check(CLI::Range(1, 100000));
  ae_cmd->add_option("--train-days", ae.train_days, "Clean days first")->check(CLI::Range(1, 60));
  ae_cmd->add_option("--test-days", ae.test_days, "Days with anomalies")->check(CLI::Range(1, 60));
  ae_cmd->add_option("--step", ae.step_s, "Seconds between points")->check(CLI::Range(1, 3600));
  ae_cmd->add_option("--threshold", ae.threshold, "Robust z past which a point is off (default 5)")
      ->check(CLI::Range(1.0, 100.0));
  ae_cmd->add_flag("--list-errors", ae.verbose, "Each false alert and missed anomaly on stderr");

  cli::QueryArgs qargs;
  auto* query_cmd = app.add_subcommand(
      "query", "Read-only SQL on the agent's store (events, alerts, metrics, profiles)");
  query_cmd->footer(
      "\nExamples:\n"
      "  sightline query --schema                         every table and column\n"
      "  sightline query \"SELECT proc_name, count(*) FROM exec GROUP BY 1 ORDER BY 2 DESC LIMIT 10\"\n"
      "  sightline query \"SELECT l7_target, count(*), avg(l7_latency)/1e6 AS ms FROM request\n"
      "                   WHERE l7_protocol = 'http' GROUP BY 1\"\n"
      "  sightline query --format csv \"SELECT datetime(time/1e9,'unixepoch'), rule, output FROM alerts\"\n"
      "Times are ns since the epoch. Statements that write are refused.");
  query_cmd->add_option("sql", qargs.sql, "One SELECT statement");
  query_cmd->add_flag("--schema", qargs.schema, "Describe every table and column");
  query_cmd->add_option("--db", qargs.db, "The store's file (default: store.path of the configuration)");
  query_cmd->add_option("-c,--config", qargs.config, "Agent configuration to take store.path from")
      ->check(CLI::ExistingFile);
  query_cmd->add_option("-f,--format", qargs.format, "table, csv or json")
      ->check(CLI::IsMember({"table", "csv", "json"}));
  query_cmd->add_option("--limit", qargs.limit, "Rows returned at most")->check(CLI::Range(1, 10000000));
  query_cmd->add_option("--timeout", qargs.timeout_s, "Seconds before the statement is stopped")
      ->check(CLI::Range(0.001, 3600.0));

  std::string agg_config, agg_listen = "127.0.0.1:4318";
  auto* agg_cmd = app.add_subcommand(
      "aggregator", "Receive OTLP/HTTP from agents, merge their metrics, forward to the exporters (remote-write, "
                    "ClickHouse, OTLP) with the agent's queues, retries and spool");
  agg_cmd->footer(
      "\nThe configuration is the agent's file: exporters (where to send), aggregator (keep_node_label,\n"
      "interval, max_series, stale) and api_token. Agents send to it with exporters.otlp.url.\n"
      "The same listener serves the web UI and SQL on every node's rows in exporters.clickhouse,\n"
      "read-only: curl 'http://HOST:4318/api/v1/query' --get --data-urlencode 'sql=SELECT node, count() FROM exec GROUP BY node'\n"
      "Example: sightline aggregator -c agg.yaml --listen 0.0.0.0:4318");
  agg_cmd->add_option("-c,--config", agg_config, "YAML configuration (exporters, aggregator)")->check(CLI::ExistingFile);
  agg_cmd->add_option("--listen", agg_listen, "host:port for OTLP/HTTP (default 127.0.0.1:4318)");

  auto* config_cmd = app.add_subcommand("config", "Check a configuration file, or print the defaults");
  config_cmd->require_subcommand(1);
  std::string check_path;
  auto* check_cmd = config_cmd->add_subcommand("check", "Validate a YAML configuration file");
  check_cmd->add_option("file", check_path, "Configuration file")->required();
  auto* default_cmd = config_cmd->add_subcommand("default", "Print the built-in defaults as YAML");

  CLI11_PARSE(app, argc, argv);

  // The tools' standard output is their data (trace's JSON lines, profile -o -, query's rows):
  // their log lines go to standard error. The agent's stay on standard output (its journal).
  if (!*agent_cmd) spdlog::set_default_logger(spdlog::stderr_color_st("sightline"));
  spdlog::set_level(verbose ? spdlog::level::debug : spdlog::level::info);
  cli::install_signal_handlers();

  if (*doctor_cmd) return doctor_caps ? cli::print_capabilities() : cli::doctor(doctor_verbose);
  if (*query_cmd) return cli::query(qargs);
  if (*ae_cmd) return cli::anomaly_eval(ae);
  if (*baseline_cmd) return cli::baseline(bl_config, bl_file, bl_json);
  if (*agg_cmd) return cli::aggregator(agg_config, agg_listen);
  if (*validate_cmd) return cli::rules_validate(rule_files, !no_defaults);
  if (*list_cmd) return cli::rules_list(rule_files, !no_defaults, rules_json);
  if (*run_cmd) return cli::rules_run(rule_files, !no_defaults, rules_json, rules_duration, !rules_dry_run);
  if (*profile_cmd) {
    if (verbose) bpf::install_libbpf_logger(true);
    return cli::profile(pargs);
  }
  if (*fg_cmd) return cli::flamegraph(fg_in, fg_out, fg_title);
  if (*uprobe_cmd) {
    if (verbose) bpf::install_libbpf_logger(true);
    if (uargs.str_arg && !uargs.args) {
      fprintf(stderr, "sightline uprobe: --str needs --args\n");
      return 2;
    }
    return cli::uprobe(uargs);
  }
  if (*top_cmd) return cli::top(top_args);
  if (*schema_cmd) return cli::schema(schema_json);
  if (*trace_cmd) {
    if (verbose) bpf::install_libbpf_logger(true);
    return cli::trace(targs);
  }
  if (*config_cmd) {
    if (*default_cmd) {
      fputs(agent::default_config_yaml().c_str(), stdout);
      return 0;
    }
    agent::AgentConfig cfg;
    if (auto st = agent::load_config(check_path, &cfg); !st) {
      fprintf(stderr, "%s\n", st.message().c_str());
      return 1;
    }
    printf("%s: ok\n", check_path.c_str());
    return 0;
  }
  if (*agent_cmd) {
    agent::AgentConfig cfg = agent::default_config();
    if (!config_path.empty()) {
      if (auto st = agent::load_config(config_path, &cfg); !st) {
        fprintf(stderr, "%s\n", st.message().c_str());
        return 1;
      }
    }
    if (!listen.empty()) cfg.listen = listen;
    std::string host;
    int port = 0;
    if (auto st = agent::check_listen(cfg.listen, cfg.api_token, &host, &port); !st) {
      fprintf(stderr, "sightline agent: %s%s\n", listen.empty() ? "listen: " : "--listen: ", st.message().c_str());
      return 2;
    }
    if (!verbose) spdlog::set_level(spdlog::level::from_str(cfg.log_level));
    bpf::install_libbpf_logger(verbose);
    return agent::run_agent(cfg, cli::g_stop, &cli::g_reload);
  }
  return 0;
}
