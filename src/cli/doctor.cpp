// `sightline doctor`: what this kernel and these privileges allow, source by source, in
// sentences a person can act on. Exit 0 when the agent can run at least one source.
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <thread>

#include "agent/privileges.h"
#include "bpf/features.h"
#include "bpf/libbpf_util.h"
#include "cli/commands.h"
#include "sources/source.h"

namespace sightline::cli {

namespace {

class CountingSink : public sources::EventSink {
 public:
  void on_event(core::Event&) override { n++; }
  uint64_t n = 0;
};

// Loads, attaches and runs one source for `seconds` with its defaults; prints what it saw.
void load_test(const sources::SourceInfo& info, const bpf::Features& f, double seconds) {
  auto src = info.create();
  CountingSink sink;
  sources::SourceOptions o;
  if (info.options) o.own = sources::OwnHolder(info.options());
  (void)bpf::take_libbpf_warnings(0);
  if (auto st = src->start(o, f, &sink); !st) {
    printf("  %-10s FAILED  %s\n", std::string(info.name).c_str(), st.message().c_str());
    // The end of what libbpf said: where a verifier's log says why it refused.
    for (const auto& l : bpf::take_libbpf_warnings(14)) printf("      | %s\n", l.c_str());
    return;
  }
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (std::chrono::steady_clock::now() < end) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    src->consume();
  }
  std::vector<core::MetricFamily> families;
  src->collect(families);
  auto st = src->stats();
  uint64_t runs = 0, ns = 0;
  for (const auto& p : src->program_stats()) runs += p.run_count, ns += p.run_time_ns;
  auto errors = src->helper_errors();
  printf("  %-10s ok      %llu events, %llu lost; programs ran %llu times (%.1f ms)%s\n",
         std::string(info.name).c_str(), static_cast<unsigned long long>(sink.n),
         static_cast<unsigned long long>(st.lost_ringbuf + st.lost_pairing + st.map_full),
         static_cast<unsigned long long>(runs), ns / 1e6, errors.empty() ? "; no failed helper calls" : "");
  for (const auto& e : errors)
    printf("      %-22s %-22s %-8s %llu\n", e.where.c_str(), e.helper.c_str(), e.err.c_str(),
           static_cast<unsigned long long>(e.count));
  src->stop();
}

}  // namespace

int print_capabilities() {
  for (const auto& c : agent::agent_capabilities()) printf("%s\n", c.name);
  return 0;
}

int doctor(bool verbose) {
  bpf::install_libbpf_logger(false);
  bpf::Features f = bpf::probe_features();
  printf("kernel        %s\n", f.kernel_release.c_str());
  printf("user          uid %u%s; CAP_BPF %s, CAP_PERFMON %s, CAP_SYS_ADMIN %s\n", geteuid(),
         f.root ? " (root)" : "", f.cap_bpf ? "yes" : "no", f.cap_perfmon ? "yes" : "no",
         f.cap_sys_admin ? "yes" : "no");
  if (!f.can_load)
    printf("\n  BPF programs cannot be loaded by this process: run as root, or give the binary\n"
           "  CAP_BPF, CAP_PERFMON (and CAP_SYS_ADMIN on kernels before 5.8).\n");
  printf("\ncapabilities  (the agent needs these to start; after start it keeps those marked 'kept')\n");
  for (const auto& c : agent::agent_capabilities())
    printf("  %-4s %-20s %-5s %s\n", agent::has_capability(c.bit) ? "ok" : "--", c.name, c.kept ? "kept" : "",
           c.why);
  printf("\nkernel features\n");
  for (const auto& feat : f.list)
    printf("  %-4s %-24s %s\n", feat.ok ? "ok" : "--", feat.name.c_str(), feat.detail.c_str());

  printf("\nsources\n");
  int can_run = 0, total = 0;
  for (const auto* entry : sources::registry()) {
    const sources::SourceInfo& info = *entry;
    total++;
    auto src = info.create();
    auto plan = src->plan(f, sources::SourceOptions{});
    bool runs = false;
    for (const auto& h : plan) runs |= h.enabled;
    can_run += runs;
    printf("  %-10s %s   %.*s\n", std::string(info.name).c_str(), runs ? "runs        " : "cannot run  ",
           static_cast<int>(info.doc.size()), info.doc.data());
    for (const auto& h : plan)
      printf("      %-3s %-44s %s\n", h.enabled ? "on" : "off", h.attach.c_str(),
             h.enabled ? "" : h.note.c_str());
  }
  printf("\n");
  if (can_run == 0) {
    printf("verdict: the agent cannot run here: no source has a usable hook (see above)\n");
    return 1;
  }
  printf("verdict: the agent can run: %d of %d sources\n", can_run, total);
  if (verbose) {
    // Kernel run-time statistics on, so each program's time is measured too.
    bpf::StatsEnabler stats;
    printf("\nload test: each source loaded, attached and run for 1 s with its defaults\n");
    for (const auto* info : sources::registry()) {
      auto plan = info->create()->plan(f, sources::SourceOptions{});
      bool runs = false;
      for (const auto& h : plan) runs |= h.enabled;
      if (runs) load_test(*info, f, 1.0);
    }
  }
  return 0;
}

}  // namespace sightline::cli
