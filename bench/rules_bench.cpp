// Rule evaluation throughput, events per second on one core: the default rule set and 500
// synthetic rules, on a mix of exec, open and tcp events that mostly match nothing (as on a
// real node). Run: build/bench/rules_bench
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "rules/ruleset.h"

using namespace sightline;

namespace {

struct Events {
  std::vector<core::Event> list;
  Events() {
    static const char argv[] = "bash\0-c\0ls -l /var/www\0";
    static const std::string paths[] = {"/usr/lib/x86_64-linux-gnu/libc.so.6", "/etc/ld.so.cache",
                                        "/proc/self/stat", "/var/www/html/index.html", "/tmp/sess_abc"};
    for (int i = 0; i < 64; i++) {
      core::Event e;
      e.pid = 1000 + i;
      e.comm = i % 3 ? "php-fpm" : "bash";
      e.pname = "nginx";
      switch (i % 4) {
        case 0:
          e.kind = core::EventKind::kExec;
          e.path = "/usr/bin/ls";
          e.args = std::string_view(argv, sizeof argv - 1);
          break;
        case 3:
          e.kind = core::EventKind::kTcp;
          e.role = 1;
          e.raddr = "10.0.0.7";
          e.rport = 5432;
          break;
        default:
          e.kind = core::EventKind::kOpen;
          e.path = paths[i % 5];
          e.flags = 0;
          e.ret = 5;
      }
      list.push_back(e);
    }
  }
};

rules::Context context() {
  rules::Context c;
  c.ancestor = [](uint32_t, int n) -> std::string { return n == 1 ? "nginx" : n == 2 ? "systemd" : ""; };
  c.user_name = [](const core::Event&) -> std::string { return "www-data"; };
  return c;
}

void run(benchmark::State& state, const rules::RuleSet& rs) {
  Events ev;
  rules::Context ctx = context();
  std::vector<const rules::Rule*> hits;
  size_t i = 0, matched = 0;
  for (auto _ : state) {
    rs.match(ev.list[i++ & 63], ctx, &hits);
    matched += hits.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["matched"] = static_cast<double>(matched);
}

void DefaultRules(benchmark::State& state) {
  rules::RuleSet rs;
  if (!rules::load_rules({}, true, &rs)) {
    state.SkipWithError("default rules do not compile");
    return;
  }
  run(state, rs);
}
BENCHMARK(DefaultRules);

// 500 rules of the shapes people write: name lists, path prefixes, parents, ports.
void SyntheticRules(benchmark::State& state) {
  std::string yaml = "- list: l\n  items: [a1, a2, a3, a4, a5, a6, a7, a8]\n";
  for (int i = 0; i < 500; i++) {
    std::string cond;
    switch (i % 4) {
      case 0: cond = "evt.type = exec and proc.name in (l) and proc.pname = srv" + std::to_string(i); break;
      case 1: cond = "evt.type = open and fd.name startswith /data/" + std::to_string(i) + "/ and not proc.name in (l)"; break;
      case 2: cond = "evt.type = tcp and fd.rport = " + std::to_string(10000 + i) + " and net.role = client"; break;
      default: cond = "evt.type = open and fd.name glob '/srv/*/" + std::to_string(i) + ".conf' and proc.cmdline contains x"; break;
    }
    yaml += "- rule: r" + std::to_string(i) + "\n  condition: " + cond + "\n  output: o\n  priority: notice\n";
  }
  rules::RuleSet rs;
  if (!rs.add(yaml, "synthetic") || !rs.compile()) {
    state.SkipWithError("synthetic rules do not compile");
    return;
  }
  run(state, rs);
}
BENCHMARK(SyntheticRules);

}  // namespace

BENCHMARK_MAIN();
