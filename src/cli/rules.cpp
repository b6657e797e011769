// `sightline rules validate|list`: the built-in rule set plus rule files, checked or listed.
#include <algorithm>
#include <cstdio>
#include <set>

#include "cli/commands.h"
#include "core/render.h"
#include "agent/enforcement.h"
#include "agent/runner.h"
#include "core/clock.h"
#include "bpf/features.h"
#include "bpf/libbpf_util.h"
#include "rules/enforce.h"
#include "rules/engine.h"
#include "rules/ruleset.h"
#include "sources/security/security_source.h"

namespace sightline::cli {

int rules_validate(const std::vector<std::string>& files, bool with_defaults) {
  rules::RuleSet rs;
  if (auto st = rules::load_rules(files, with_defaults, &rs); !st) {
    fprintf(stderr, "%s\n", st.message().c_str());
    return 1;
  }
  // Rules with an action must be able to act in the kernel: each is compiled, or refused here.
  rules::EnforcePlan plan;
  const bpf::Features f = bpf::probe_features();
  if (auto st = rules::compile_enforcement(rs, true, f.bpf_lsm, agent::lsm_note(f), &plan); !st) {
    fprintf(stderr, "%s\n", st.message().c_str());
    return 1;
  }
  printf("%zu rules (%zu enabled)%s: ok\n", rs.rules().size(), rs.enabled_count(),
         files.empty() ? "" : (" in the built-in set and " + std::to_string(files.size()) + " file(s)").c_str());
  if (size_t n = rs.falco_count()) printf("%zu of them from Falco rules files, read in Falco's dialect\n", n);
  for (const auto& note : rs.notes()) printf("note: %s\n", note.c_str());
  // Syscalls a rule names that no source reports: those parts of it never match.
  std::vector<std::string> traced = sources::security_syscall_names();
  for (const auto& r : rs.rules()) {
    std::set<std::string> names;
    if (!r.enabled || !r.condition.kinds().count(core::EventKind::kSyscall) ||
        !r.condition.required_values("syscall.name", &names))
      continue;
    std::string missing;
    for (const auto& n : names)
      if (std::find(traced.begin(), traced.end(), n) == traced.end()) missing += (missing.empty() ? "" : ", ") + n;
    if (!missing.empty())
      printf("note: %s: rule '%s': %s: not traced by Sightline (the parts that need them never match)\n",
             r.origin.c_str(), r.name.c_str(), missing.c_str());
  }
  if (!plan.rules.empty()) {
    printf("%zu act in the kernel:\n", plan.rules.size());
    for (const auto& a : plan.rules) printf("  %s: %s\n", a.rule->name.c_str(), a.summary.c_str());
  }
  return 0;
}

int rules_list(const std::vector<std::string>& files, bool with_defaults, bool json) {
  rules::RuleSet rs;
  if (auto st = rules::load_rules(files, with_defaults, &rs); !st) {
    fprintf(stderr, "%s\n", st.message().c_str());
    return 1;
  }
  std::string out = json ? "[" : "";
  bool first = true;
  for (const auto& r : rs.rules()) {
    std::string types;
    for (auto k : r.condition.kinds()) types += (types.empty() ? "" : ",") + std::string(core::kind_def(k).name);
    if (json) {
      out += first ? "" : ",";
      first = false;
      out += "{\"rule\":";
      core::append_json_string(out, r.name);
      out += ",\"priority\":";
      core::append_json_string(out, rules::priority_name(r.priority));
      out += ",\"enabled\":" + std::string(r.enabled ? "true" : "false") + ",\"event_types\":";
      core::append_json_string(out, types);
      out += ",\"desc\":";
      core::append_json_string(out, r.desc);
      out += "}";
    } else {
      char line[512];
      snprintf(line, sizeof line, "%-14s %-8s %-12s %s\n", std::string(rules::priority_name(r.priority)).c_str(),
               r.enabled ? "on" : "off", types.c_str(), r.name.c_str());
      out += line;
    }
  }
  if (json) out += "]\n";
  fputs(out.c_str(), stdout);
  return 0;
}

int rules_run(const std::vector<std::string>& files, bool with_defaults, bool json, double duration_s, bool enforce) {
  auto rs = std::make_shared<rules::RuleSet>();
  if (auto st = rules::load_rules(files, with_defaults, rs.get()); !st) {
    fprintf(stderr, "%s\n", st.message().c_str());
    return 1;
  }
  bpf::install_libbpf_logger(false);
  agent::Runner runner(bpf::probe_features());
  runner.seed_processes();
  // Only the event kinds the rules can match reach user space; the process source always runs
  // (fork and exit keep the ancestry that proc.aname and proc.pname read).
  std::vector<core::EventKind> kinds = rs->kinds();
  std::set<std::string> names = {"process"};
  for (auto k : kinds)  // kinds the agent makes (anomaly) have no source: nothing runs them here
    if (const auto* src = sources::source_for_kind(k)) names.insert(std::string(src->name));
  rules::AlertOutputs outs;
  outs.stdout_text = !json;
  if (json) outs.json_file = "/dev/stdout";  // one JSON alert per line
  rules::Engine engine(&runner.table(), outs);
  runner.add_sink(&engine);
  runner.add_action_sink(&engine);
  agent::Enforcement enforcement;
  std::string acting;
  if (auto st = enforcement.start(runner, *rs, enforce, &acting); !st) {
    fprintf(stderr, "sightline rules run: %s\n", st.message().c_str());
    return 1;
  }
  if (!acting.empty()) fprintf(stderr, "sightline: acting in the kernel%s:\n%s", enforce ? "" : " (dry run)", acting.c_str());
  engine.set_rules(rs, enforcement.generation());
  std::string what;
  for (const auto& n : names) {
    sources::SourceOptions o;
    if (n != "process") o.kinds = kinds;
    if (n == "security") o.own_as<sources::SecurityOptions>().syscalls = rs->syscalls();  // only the syscalls the rules name
    if (auto st = runner.start(n, o); !st) {
      fprintf(stderr, "sightline rules run: %s\n", st.message().c_str());
      return 1;
    }
    what += (what.empty() ? "" : ", ") + n;
    if (n == "security" && o.own_as<sources::SecurityOptions>().syscalls) {
      std::string list;
      for (const auto& sc : *o.own_as<sources::SecurityOptions>().syscalls) list += (list.empty() ? "" : " ") + sc;
      what += " (" + list + ")";
    }
  }
  fprintf(stderr, "sightline: %zu rules on %s (Ctrl-C to stop)\n", rs->enabled_count(), what.c_str());
  uint64_t deadline = duration_s > 0 ? core::now_boot_ns() + static_cast<uint64_t>(duration_s * 1e9) : 0;
  runner.run(g_stop, 100, deadline);
  runner.stop_all();
  fprintf(stderr, "sightline: %llu alerts\n", static_cast<unsigned long long>(engine.alerts()));
  return 0;
}

}  // namespace sightline::cli
