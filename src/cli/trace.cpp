// `sightline trace KIND...`: live events as an aligned table or JSON lines, filtered in the
// kernel; Ctrl-C (or --duration) ends with a summary of events seen and lost.
#include <arpa/inet.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <set>

#include "agent/runner.h"
#include "bpf/libbpf_util.h"
#include "cli/commands.h"
#include "core/cgroups.h"
#include "core/clock.h"
#include "core/render.h"
#include "core/schema.h"
#include "rules/default_rules.h"
#include "rules/engine.h"
#include "sources/file/file_source.h"
#include "sources/l7/l7_source.h"
#include "sources/packets/packets_source.h"
#include "sources/security/security_source.h"
#include "sources/uprobe/uprobe_source.h"

namespace sightline::cli {
namespace {

using core::EventKind;
using core::FieldDef;

class Printer : public sources::EventSink {
 public:
  Printer(bool json, std::vector<EventKind> kinds, std::set<std::string> protocols)
      : json_(json), kinds_(std::move(kinds)), protocols_(std::move(protocols)) {
    out_.reserve(1 << 20);
    if (kinds_.size() == 1) {
      bool node_wide = core::kind_def(kinds_[0]).node_wide;  // no process: the time alone
      for (const auto& f : core::common_fields())
        if (!f.header.empty() && f.name != "evt.type" && (!node_wide || f.name == "evt.time"))
          columns_.push_back(&f);
      for (const auto& f : core::kind_def(kinds_[0]).fields)
        if (!f.header.empty()) columns_.push_back(&f);
    } else {
      for (const auto& f : core::common_fields())
        if (!f.header.empty()) columns_.push_back(&f);
    }
  }

  void header() {
    if (json_) return;
    for (const FieldDef* f : columns_) pad(f->header, f->width);
    if (kinds_.size() > 1) out_ += "DETAILS";
    trim_line();
    flush();
  }

  // Only events `c` matches (trace -f; the rule language), in `ctx`.
  void set_condition(const rules::Condition* c, rules::Context ctx) {
    cond_ = c;
    ctx_ = std::move(ctx);
  }

  void on_event(core::Event& e) override {
    if (!protocols_.empty() && e.kind == EventKind::kRequest && !protocols_.count(std::string(e.protocol))) return;
    if (cond_ && !cond_->matches(e, ctx_)) return;
    printed_++;
    if (json_) {
      core::append_event_json(out_, e);
      out_ += '\n';
    } else {
      for (const FieldDef* f : columns_) {
        size_t start = out_.size();
        core::append_value_text(out_, f->get(e));
        size_t len = out_.size() - start;
        if (f->width) out_.append(len < f->width ? f->width - len : 1, ' ');
        else out_ += ' ';
      }
      if (kinds_.size() > 1) {
        for (const auto& f : core::kind_def(e.kind).fields) {
          if (f.header.empty()) continue;
          out_ += f.name;
          out_ += '=';
          core::append_value_text(out_, f.get(e));
          out_ += ' ';
        }
      }
      trim_line();
    }
    if (out_.size() > (1 << 20) - 8192) flush();
  }

  void flush() {
    if (!out_.empty()) fwrite(out_.data(), 1, out_.size(), stdout);
    fflush(stdout);
    out_.clear();
  }
  uint64_t printed() const { return printed_; }

 private:
  const rules::Condition* cond_ = nullptr;
  rules::Context ctx_;
  void pad(std::string_view s, size_t w) {
    out_ += s;
    out_.append(w > s.size() ? w - s.size() : 1, ' ');
  }
  void trim_line() {
    while (!out_.empty() && out_.back() == ' ') out_.pop_back();
    out_ += '\n';
  }
  bool json_;
  std::vector<EventKind> kinds_;
  std::set<std::string> protocols_;  // requests of these protocols only (empty: all)
  std::vector<const FieldDef*> columns_;
  std::string out_;
  uint64_t printed_ = 0;
};

constexpr std::string_view kProtocols[] = {"http", "http2", "grpc", "pgsql", "mysql", "redis", "dns", "memcached", "nats", "amqp"};

// exec fork exit open, a source name for all its kinds, or an L7 protocol (requests of it).
// A syscall the security source reports (bind, ptrace ...) is its syscall events of that name:
// `syscalls` gets the names, empty when the syscall kind (all of them) is asked too.
core::Status resolve_kinds(const std::vector<std::string>& names, std::vector<EventKind>* kinds,
                           std::set<std::string>* protocols, std::vector<std::string>* syscalls) {
  std::set<EventKind> seen;
  bool all_requests = false, all_syscalls = false;
  auto sec = sources::security_syscall_names();
  for (const auto& n : names) {
    if (std::find(std::begin(kProtocols), std::end(kProtocols), n) != std::end(kProtocols)) {
      seen.insert(EventKind::kRequest);
      protocols->insert(n);
    } else if (const auto* k = core::find_kind(n)) {
      if (!sources::source_for_kind(k->kind))
        return core::Status::error(EINVAL, "'" + n + "' events come from a running agent's models, not from a source "
                                           "trace can run: GET /api/v1/anomalies, or sightline query \"SELECT * FROM " +
                                           n + "\"");
      all_requests |= k->kind == EventKind::kRequest;
      seen.insert(k->kind);
    } else if (const auto* s = sources::find_source(n)) {
      seen.insert(s->kinds.begin(), s->kinds.end());
      all_syscalls |= std::find(s->kinds.begin(), s->kinds.end(), EventKind::kSyscall) != s->kinds.end();
    } else if (std::find(sec.begin(), sec.end(), n) != sec.end()) {
      seen.insert(EventKind::kSyscall);
      syscalls->push_back(n);
    } else {
      std::string known;
      for (const auto& k : core::kinds()) known += std::string(k.name) + " ";
      for (const auto* s : sources::registry()) known += std::string(s->name) + " ";
      for (auto p : kProtocols) known += std::string(p) + " ";
      return core::Status::error(EINVAL, "unknown event kind '" + n + "'; known: " + known +
                                             "and the syscalls of `sightline trace syscall` (bind, ptrace, mount ...)");
    }
    if (const auto* k = core::find_kind(n); k && k->kind == EventKind::kSyscall) all_syscalls = true;
  }
  if (all_syscalls) syscalls->clear();
  if (all_requests || seen.count(EventKind::kRequest) == 0) protocols->clear();
  kinds->assign(seen.begin(), seen.end());
  return {};
}

}  // namespace

int trace(const TraceArgs& args) {
  size_t tps = 0;
  for (const auto& k : args.kinds) tps += k.starts_with("tp:");
  if (tps && tps != args.kinds.size()) {
    fprintf(stderr, "sightline trace: tp:CATEGORY:NAME cannot be mixed with other kinds in one run\n");
    return 2;
  }
  if (tps) return trace_tracepoints(args);
  if (!args.count_by.empty() || !args.hist.empty()) {
    fprintf(stderr, "sightline trace: --count-by and --hist are for tp:CATEGORY:NAME\n");
    return 2;
  }
  std::vector<EventKind> kinds;
  std::set<std::string> protocols;
  std::vector<std::string> syscalls;
  if (auto st = resolve_kinds(args.kinds, &kinds, &protocols, &syscalls); !st) {
    fprintf(stderr, "sightline trace: %s\n", st.message().c_str());
    return 2;
  }
  if (args.comm.size() > 15) {
    fprintf(stderr, "sightline trace: --comm '%s' is longer than a task name (15 bytes)\n",
            args.comm.c_str());
    return 2;
  }
  // --verdict, --port, --ip, --container: conditions of the same language, and-ed to -f.
  std::string filter = args.filter;
  if (!syscalls.empty()) {  // trace bind: the syscall events named so
    std::string in;
    for (const auto& n : syscalls) in += (in.empty() ? "" : ", ") + n;
    std::string only = "(not evt.type = syscall or syscall.name in (" + in + "))";
    filter = filter.empty() ? only : "(" + filter + ") and " + only;
  }
  {
    std::vector<std::string> parts;
    bool packets = std::all_of(kinds.begin(), kinds.end(),
                               [](EventKind k) { return k == EventKind::kFlow || k == EventKind::kDrop; });
    if ((!args.verdict.empty() || args.port || !args.ip.empty()) && !packets) {
      fprintf(stderr, "sightline trace: --verdict, --port and --ip are for the flow and packet_drop kinds\n");
      return 2;
    }
    if (!args.verdict.empty()) {
      if (std::find(kinds.begin(), kinds.end(), EventKind::kFlow) == kinds.end()) {
        fprintf(stderr, "sightline trace: --verdict is for the flow kind\n");
        return 2;
      }
      parts.push_back("flow.verdict = " + args.verdict);
    }
    if (args.port) parts.push_back("(pkt.sport = " + std::to_string(args.port) + " or pkt.dport = " + std::to_string(args.port) + ")");
    if (!args.ip.empty()) {
      unsigned char buf[16];
      char text[INET6_ADDRSTRLEN];
      int af = args.ip.find(':') != std::string::npos ? AF_INET6 : AF_INET;
      if (inet_pton(af, args.ip.c_str(), buf) != 1 || !inet_ntop(af, buf, text, sizeof text)) {
        fprintf(stderr, "sightline trace: --ip '%s' is not an IPv4 or IPv6 address\n", args.ip.c_str());
        return 2;
      }
      parts.push_back(std::string("(pkt.src = \"") + text + "\" or pkt.dst = \"" + text + "\")");
    }
    if (!args.container.empty()) parts.push_back("container.id = \"" + args.container + "\"");
    for (const auto& p : parts) filter = filter.empty() ? p : "(" + filter + ") and " + p;
  }
  // -f: a condition in the rule language (the built-in rules' macros and lists usable), checked
  // on each event; what it requires of proc.name or proc.pid goes to the kernel's filter.
  rules::RuleSet defaults;
  rules::Condition cond;
  std::string comm = args.comm;
  uint32_t pid = args.pid;
  uint64_t cgroup_id = 0;
  bool failed = args.failed;
  if (!filter.empty()) {
    if (auto st = defaults.add(rules::default_rules_yaml(), "default"); !st) {
      fprintf(stderr, "sightline trace: %s\n", st.message().c_str());
      return 1;
    }
    if (auto st = defaults.parse_condition(filter, &cond); !st) {
      fprintf(stderr, "sightline trace: -f: %s\n", st.message().c_str());
      return 2;
    }
    bool any = false;
    for (auto k : kinds) any |= cond.kinds().count(k) > 0;
    if (!any) {
      fprintf(stderr, "sightline trace: -f: the condition can match none of the kinds traced (its fields or evt.type "
                      "belong to others)\n");
      return 2;
    }
    std::set<std::string> v;
    if (comm.empty() && cond.required_values("proc.name", &v) && v.size() == 1 && v.begin()->size() <= 15)
      comm = *v.begin();
    v.clear();
    if (!pid && cond.required_values("proc.pid", &v) && v.size() == 1)
      pid = static_cast<uint32_t>(std::strtoul(v.begin()->c_str(), nullptr, 10));
    v.clear();
    if (!cgroup_id && cond.required_values("cgroup.id", &v) && v.size() == 1)
      cgroup_id = std::strtoull(v.begin()->c_str(), nullptr, 10);
    // evt.failed where the kernel's "failed only" keeps every event it is true of (for tcp it
    // keeps failed connects and resets, not a close with a socket error; exit and signal have
    // no evt.failed).
    v.clear();
    bool same = true;
    for (auto k : kinds)
      same &= k == EventKind::kOpen || k == EventKind::kExec || k == EventKind::kSyscall || k == EventKind::kConnect;
    if (same && cond.required_values("evt.failed", &v) && v.size() == 1 && *v.begin() == "true") failed = true;
  }
  sources::SourceOptions opts;
  opts.kinds = kinds;
  opts.filter.pid = pid;
  opts.filter.comm = comm;
  opts.filter.failed_only = failed;
  opts.filter.cgroup_id = cgroup_id;
  opts.ring_bytes = args.ring_bytes;
  // Each source's own options (one holder holds one source's).
  std::map<std::string, sources::OwnHolder> own;
  for (const auto& t : args.uprobes)
    own["uprobe"].as<sources::UprobeOptions>().probes.push_back({t, args.uprobe_latency, true, args.uprobe_str});
  auto& l7 = own["l7"].as<sources::L7Options>();
  l7.sample = 1;  // a live trace shows every request
  l7.both_local_ends = true;  // and what each end of a local call saw
  l7.ports = args.l7_ports;
  if (auto st = l7.check(); !st) {
    fprintf(stderr, "sightline trace: --l7-port: %s\n", st.message().c_str());
    return 2;
  }
  if (!syscalls.empty()) own["security"].as<sources::SecurityOptions>().syscalls = syscalls;  // only those attached
  if (args.flow_timeout_s) own["packets"].as<sources::PacketsOptions>().flow_timeout_s = args.flow_timeout_s;
  if (args.slow_ms >= 0) own["file"].as<sources::FileOptions>().slow_io_ms = static_cast<uint32_t>(args.slow_ms);
  if (!args.cgroup.empty()) {
    std::string path = args.cgroup;
    if (path.front() != '/' || access(path.c_str(), F_OK) != 0) path = core::cgroup2_mount() + "/" + args.cgroup;
    struct stat st;
    if (stat(path.c_str(), &st) != 0) {
      fprintf(stderr, "sightline trace: --cgroup %s: no such cgroup v2 directory\n", args.cgroup.c_str());
      return 2;
    }
    opts.filter.cgroup_id = st.st_ino;
  }

  bpf::install_libbpf_logger(false);
  agent::Runner runner(bpf::probe_features());
  Printer printer(args.json, kinds, protocols);
  rules::UserNames users;
  if (!filter.empty()) printer.set_condition(&cond, rules::process_context(&runner.table(), &users));
  runner.add_sink(&printer);
  runner.seed_processes();

  std::set<std::string> names;
  for (auto k : kinds) names.insert(std::string(sources::source_for_kind(k)->name));
  // Server requests' timelines (req.*) read the sched source's per-thread time: it runs first,
  // without events of its own; where it cannot, requests come without timelines.
  if (names.contains("l7")) {
    sources::SourceOptions so = opts;
    so.kinds.clear();
    if (auto st = runner.start("sched", so); !st)
      fprintf(stderr, "sightline trace: no request timelines: %s\n", st.message().c_str());
  }
  for (const auto& n : names) {
    sources::SourceOptions so = opts;
    if (auto it = own.find(n); it != own.end()) so.own = it->second;
    if (auto st = runner.start(n, so); !st) {
      fprintf(stderr, "sightline trace: %s\n", st.message().c_str());
      return 1;
    }
  }
  if (!args.no_header) printer.header();
  std::string what;
  for (auto k : kinds) what += (what.empty() ? "" : " ") + std::string(core::kind_def(k).name);
  fprintf(stderr, "sightline: tracing %s (Ctrl-C to stop)\n", what.c_str());
  uint64_t deadline = args.duration_s > 0
                          ? core::now_boot_ns() + static_cast<uint64_t>(args.duration_s * 1e9)
                          : 0;
  // Flush what each poll round printed, so a person sees events within one poll period.
  runner.run(g_stop, args.poll_ms, deadline, [&] { printer.flush(); });
  printer.flush();

  uint64_t events = 0, rb = 0, pair = 0, dec = 0;
  for (const auto& s : runner.sources()) {
    auto st = s.source->stats();
    events += st.events;
    rb += st.lost_ringbuf;
    pair += st.lost_pairing;
    dec += st.decode_errors;
  }
  runner.stop_all();
  uint64_t lost = rb + pair + dec;
  fprintf(stderr, "sightline: %llu events, %llu lost (ringbuf_full=%llu pairing_map_full=%llu decode_error=%llu)%s\n",
          static_cast<unsigned long long>(events), static_cast<unsigned long long>(lost),
          static_cast<unsigned long long>(rb), static_cast<unsigned long long>(pair),
          static_cast<unsigned long long>(dec),
          lost ? ": raise --ring-bytes or narrow the filter" : "");
  return 0;
}

}  // namespace sightline::cli
