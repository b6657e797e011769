// `sightline profile`: CPU (or off-CPU) profile of one process or the whole node, written as
// folded stacks, pprof or an SVG flame graph; `sightline flamegraph`: folded -> SVG.
#include <signal.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>
#include <iostream>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <thread>

#include "agent/runner.h"
#include "bpf/features.h"
#include "bpf/libbpf_util.h"
#include "cli/commands.h"
#include "profile/profile.h"
#include "sources/profile/profile_source.h"

namespace sightline::cli {
namespace {

std::string format_of(const ProfileArgs& a) {
  if (!a.format.empty()) return a.format;
  const std::string& o = a.output;
  if (o.ends_with(".svg")) return "svg";
  if (o.ends_with(".pb.gz") || o.ends_with(".pprof") || o.ends_with(".pb")) return "pprof";
  return "folded";
}

std::string gzip(const std::string& data) {
  z_stream zs{};
  deflateInit2(&zs, Z_DEFAULT_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  std::string out(deflateBound(&zs, data.size()) + 32, '\0');
  zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
  zs.avail_in = static_cast<uInt>(data.size());
  zs.next_out = reinterpret_cast<Bytef*>(out.data());
  zs.avail_out = static_cast<uInt>(out.size());
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

bool write_file(const std::string& path, const std::string& data) {
  if (path.empty() || path == "-") return fwrite(data.data(), 1, data.size(), stdout) == data.size();
  std::ofstream out(path, std::ios::binary);
  out << data;
  return static_cast<bool>(out);
}

}  // namespace

int profile(const ProfileArgs& args) {
  bpf::install_libbpf_logger(false);
  std::string fmt = format_of(args);
  if (fmt != "folded" && fmt != "pprof" && fmt != "svg") {
    fprintf(stderr, "sightline profile: unknown format '%s' (folded, pprof, svg)\n", fmt.c_str());
    return 2;
  }
  if (args.pid && kill(static_cast<pid_t>(args.pid), 0) != 0 && errno == ESRCH) {
    fprintf(stderr, "sightline profile: no process %u\n", args.pid);
    return 1;
  }
  auto source = sources::make_profile_source();
  auto* prof = static_cast<sources::ProfileSource*>(source.get());
  sources::SourceOptions o;
  o.filter.pid = args.pid;
  auto& po = o.own_as<sources::ProfileOptions>();
  po.hz = args.hz;
  po.off_cpu = args.off_cpu;
  po.on_cpu = !args.off_cpu;
  po.dwarf_unwind = !args.off_cpu && args.unwind == "dwarf";
  po.kernel_unwind = args.unwind == "kernel";
  po.tables_min_age_ms = 0;  // every process's tables at once: a run of seconds
  bpf::Features f = bpf::probe_features();
  if (auto st = source->start(o, f, nullptr); !st) {
    fprintf(stderr, "sightline profile: %s\n", st.message().c_str());
    return 1;
  }
  fprintf(stderr, "profiling %s %s for %.0f s%s... (Ctrl-C ends early)\n",
          args.pid ? ("process " + std::to_string(args.pid)).c_str() : "every process",
          args.off_cpu ? "off-CPU time" : ("at " + std::to_string(args.hz) + " Hz").c_str(), args.duration_s,
          args.off_cpu ? "" : " on every CPU");
  profile::Profile total, on, off;
  total.offcpu = args.off_cpu;
  auto start = std::chrono::steady_clock::now();
  auto end = start + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                         std::chrono::duration<double>(args.duration_s));
  bool first = true;
  // Drain every second: stacks are named while their processes still exist.
  while (!g_stop.load() && std::chrono::steady_clock::now() < end) {
    // Short sleeps: Ctrl-C is seen at once.
    auto tick = std::chrono::steady_clock::now() + std::chrono::seconds(1);
    while (!g_stop.load() && std::chrono::steady_clock::now() < std::min(tick, end))
      std::this_thread::sleep_for(std::chrono::milliseconds(50)), source->consume();
    on = {}, off = {};
    prof->drain(&on, &off);
    profile::Profile& got = args.off_cpu ? off : on;
    if (first) {
      total.start_unix_ns = got.start_unix_ns;
      total.period_ns = got.period_ns;
      first = false;
    }
    total.duration_ns += got.duration_ns;
    for (auto& e : got.entries) total.entries.push_back(std::move(e));
  }
  auto c = prof->counts();
  source->stop();

  std::string data;
  if (fmt == "pprof") {
    data = profile::to_pprof(total);
    if (args.output.ends_with(".gz")) data = gzip(data);
  } else {
    data = profile::to_folded(total);
    if (fmt == "svg") {
      std::vector<profile::FoldedStack> stacks;
      (void)profile::parse_folded(data, &stacks);
      data = profile::flamegraph_svg(stacks, args.off_cpu ? "Off-CPU time" : "CPU profile",
                                     args.off_cpu ? "ns" : "samples");
    }
  }
  if (!write_file(args.output, data)) {
    fprintf(stderr, "sightline profile: cannot write %s: %s\n", args.output.c_str(), strerror(errno));
    return 1;
  }
  if (args.off_cpu)
    fprintf(stderr, "%.3f s off-CPU in %zu stacks%s%s\n", c.offcpu_ns / 1e9, total.entries.size(),
            args.output.empty() ? "" : " -> ", args.output.c_str());
  else
    fprintf(stderr,
            "%llu samples in %zu stacks; user stacks complete (reaching main/_start/clone): %.1f%% "
            "of %llu; stacks lost: %llu%s%s\n",
            static_cast<unsigned long long>(c.samples), total.entries.size(),
            c.user_stacks ? 100.0 * static_cast<double>(c.user_complete) / static_cast<double>(c.user_stacks) : 0.0,
            static_cast<unsigned long long>(c.user_stacks), static_cast<unsigned long long>(c.stacks_lost),
            args.output.empty() ? "" : " -> ", args.output.c_str());
  if (c.unwind_rows)
    fprintf(stderr, "unwind tables in the kernel: %llu rows (%.1f MiB) of %llu files for %llu processes\n",
            static_cast<unsigned long long>(c.unwind_rows), c.unwind_rows * 8.0 / (1 << 20),
            static_cast<unsigned long long>(c.unwind_files), static_cast<unsigned long long>(c.unwind_procs));
  return 0;
}

int flamegraph(const std::string& input, const std::string& output, const std::string& title) {
  std::stringstream ss;
  if (input == "-") {
    ss << std::cin.rdbuf();
  } else {
    std::ifstream in(input);
    if (!in) {
      fprintf(stderr, "sightline flamegraph: cannot read %s: %s\n", input.c_str(), strerror(errno));
      return 1;
    }
    ss << in.rdbuf();
  }
  std::vector<profile::FoldedStack> stacks;
  if (auto st = profile::parse_folded(ss.str(), &stacks); !st) {
    fprintf(stderr, "sightline flamegraph: %s: %s\n", input.c_str(), st.message().c_str());
    return 1;
  }
  if (!write_file(output, profile::flamegraph_svg(stacks, title, "samples"))) {
    fprintf(stderr, "sightline flamegraph: cannot write %s: %s\n", output.c_str(), strerror(errno));
    return 1;
  }
  return 0;
}

}  // namespace sightline::cli
