// Runs real sources through the same Runner the agent uses and records what they deliver.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "agent/runner.h"
#include "bpf/features.h"

namespace sightline::test {

struct Recorded {
  core::EventKind kind;
  uint32_t pid, tid, ppid, uid, child_pid, signal, mode, args_count;
  int32_t exit_code;
  int64_t ret;
  uint64_t flags, duration_ns, ts_wall_ns;
  uint16_t syscall;
  bool truncated;
  std::string comm, pname, exe, path, args;
  // tcp
  std::string laddr, raddr;
  uint16_t lport, rport;
  uint64_t connect_ns, bytes_sent, bytes_received;
  uint8_t tcp_state = 0;  // retransmit
  std::string drop_reason, drop_location;  // drop (l4proto: its protocol)
  uint32_t retransmits = 0;
  // syscall (security source)
  std::string sys_name, fd_type, l4proto, ns_flags;
  std::string path2;  // syscall: the second string argument
  int32_t fd_num = -1;
  uint64_t sys_arg1 = 0;
  // signal, oom_kill
  uint32_t target_pid = 0;
  std::string target_comm;
  int32_t sig_result = 0;
  uint64_t oom_anon_rss = 0;
  // flow (laddr/lport: src, raddr/rport: dst, bytes_sent/received: each way, path: the device)
  std::string flow_state, flow_dir;
  uint64_t packets_sent = 0, packets_received = 0;
  uint32_t src_pid = 0, dst_pid = 0;
  // cachestat
  int64_t pc_hits = 0;
  uint64_t pc_misses = 0, pc_dirtied = 0, mem_cached = 0;
};

class Recorder : public sources::EventSink {
 public:
  void on_event(core::Event& e) override {
    events.push_back(Recorded{e.kind, e.pid, e.tid, e.ppid, e.uid, e.child_pid, e.signal, e.mode,
                              e.args_count, e.exit_code, e.ret, e.flags, e.duration_ns,
                              e.ts_wall_ns, e.syscall, e.truncated, std::string(e.comm),
                              std::string(e.pname), std::string(e.exe),
                              e.kind == core::EventKind::kTcp
                                  ? std::string(e.role == 1 ? "client" : "server")
                                  : std::string(e.path),
                              std::string(e.args), std::string(e.laddr), std::string(e.raddr),
                              e.lport, e.rport, e.connect_ns, e.bytes_sent, e.bytes_received});
    if (e.kind == core::EventKind::kTcp) events.back().truncated = e.reset;
    if (e.kind == core::EventKind::kConnect || e.kind == core::EventKind::kAccept ||
        e.kind == core::EventKind::kRetransmit) {
      auto& r = events.back();
      r.fd_num = e.fd_num;
      r.tcp_state = e.tcp_state;
      r.retransmits = e.retransmits;
    }
    if (e.kind == core::EventKind::kMount) {  // source in args, target in path, fstype in fd_type, data in ns_flags
      auto& r = events.back();
      r.sys_name = e.sys_name;
      r.args = e.path;
      r.path = e.path2;
      r.fd_type = e.fstype;
      r.ns_flags = e.mount_data;
    }
    if (e.kind == core::EventKind::kBlockIo) {  // op in path, sector in connect_ns, bytes in bytes_sent
      auto& r = events.back();
      r.path = e.block_op;
      r.connect_ns = e.sector;
      r.bytes_sent = e.io_bytes;
    }
    if (e.kind == core::EventKind::kSlowIo) {  // offset in connect_ns, fs type in fd_type
      auto& r = events.back();
      r.sys_name = e.sys_name;
      r.fd_num = e.fd_num;
      r.fd_type = e.fstype;
      r.connect_ns = static_cast<uint64_t>(e.io_offset);
      r.l4proto = e.block_op;
    }
    if (e.kind == core::EventKind::kFileLifetime) events.back().bytes_sent = e.io_bytes;  // its size
    if (e.kind == core::EventKind::kCacheStat) {
      auto& r = events.back();
      r.pc_hits = e.pc_hits;
      r.pc_misses = e.pc_misses;
      r.pc_dirtied = e.pc_dirtied;
      r.mem_cached = e.mem_cached;
    }
    if (e.kind == core::EventKind::kFlow) {
      auto& r = events.back();
      r.flow_state = e.flow_state;
      r.flow_dir = e.flow_dir;
      r.packets_sent = e.packets_sent;
      r.packets_received = e.packets_received;
      r.src_pid = e.src_pid;
      r.dst_pid = e.dst_pid;
      r.drop_reason = e.drop_reason;
      r.l4proto = e.l4proto;
      r.path = e.iface;
    }
    if (e.kind == core::EventKind::kDrop) {
      auto& r = events.back();
      r.drop_reason = e.drop_reason;
      r.drop_location = e.drop_location;
      r.l4proto = e.l4proto;
      r.path = e.iface;
    }
    if (e.kind == core::EventKind::kSyscall) {
      auto& r = events.back();
      r.sys_name = e.sys_name;
      r.path2 = e.path2;
      r.fd_type = e.fd_type;
      r.l4proto = e.l4proto;
      r.ns_flags = e.flags_text;
      r.fd_num = e.fd_num;
      r.sys_arg1 = e.sys_args[0];
    }
    if (e.kind == core::EventKind::kSignal || e.kind == core::EventKind::kOomKill) {
      auto& r = events.back();
      r.target_pid = e.target_pid;
      r.target_comm = e.target_comm;
      r.sig_result = e.sig_result;
      r.oom_anon_rss = e.oom_anon_rss;
    }
    if (e.kind == core::EventKind::kUprobe) {  // probe name, first argument, string
      auto& r = events.back();
      r.path = std::string(e.probe);
      r.args_count = static_cast<uint32_t>(e.uargs[0]);
      r.args = std::string(e.str_arg);
    }
  }
  std::vector<Recorded> events;
};

class Harness {
 public:
  Harness() : runner_(bpf::probe_features()) { runner_.add_sink(&rec_); }
  // Starts a source; the test fails (never skips) when it cannot.
  void start(const std::string& source, sources::SourceOptions opts) {
    auto st = runner_.start(source, opts);
    ASSERT_TRUE(st.ok()) << "source " << source << " did not start: " << st.message();
  }
  // Drains until pred() holds or `seconds` pass; false on timeout.
  bool pump_until(const std::function<bool()>& pred, int seconds = 5) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
    while (std::chrono::steady_clock::now() < deadline) {
      runner_.drain();
      if (pred()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }
  std::vector<Recorded> find(core::EventKind kind, const std::function<bool(const Recorded&)>& pred) const {
    std::vector<Recorded> out;
    for (const auto& e : rec_.events)
      if (e.kind == kind && pred(e)) out.push_back(e);
    return out;
  }
  std::string dump() const {
    std::string s;
    for (const auto& e : rec_.events)
      s += "  kind=" + std::to_string(static_cast<int>(e.kind)) + " pid=" + std::to_string(e.pid) +
           " comm=" + e.comm + " path=" + e.path + " ret=" + std::to_string(e.ret) +
           (e.kind == core::EventKind::kTcp ? " " + e.laddr + ":" + std::to_string(e.lport) + " -> " +
                                                   e.raddr + ":" + std::to_string(e.rport)
                                             : "") +
           "\n";
    return s.size() > 4000 ? s.substr(0, 4000) + "...\n" : s;
  }
  // Sum over the series of `family` (latest collect) whose labels include all of `want`
  // (histograms: their counts); -1 when no series matches.
  double metric(const std::string& family, const core::Labels& want) {
    double v = -1;
    runner_.visit_metrics([&](const core::MetricFamily& f) {
      if (f.name != family) return;
      for (const auto& s : f.series) {
        bool match = true;
        for (const auto& w : want)
          match &= std::find(s.labels.begin(), s.labels.end(), w) != s.labels.end();
        if (match)
          v = (v < 0 ? 0 : v) +
              (f.type == core::MetricType::kHistogram ? double(s.hist.count()) : s.value);
      }
    });
    return v;
  }
  agent::Runner& runner() { return runner_; }
  const std::vector<Recorded>& events() const { return rec_.events; }

 private:
  agent::Runner runner_;
  Recorder rec_;
};

// Options that trace this test process too (the agent excludes itself by default).
inline sources::SourceOptions self_included() {
  sources::SourceOptions o;
  o.filter.exclude_self = false;
  return o;
}

}  // namespace sightline::test
