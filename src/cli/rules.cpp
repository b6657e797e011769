// `sightline rules validate|list`: the built-in rule set plus rule files, checked or listed.
#include <cstdio>

#include "cli/commands.h"
#include "core/render.h"
#include "rules/ruleset.h"

namespace sightline::cli {

int rules_validate(const std::vector<std::string>& files, bool with_defaults) {
  rules::RuleSet rs;
  if (auto st = rules::load_rules(files, with_defaults, &rs); !st) {
    fprintf(stderr, "%s\n", st.message().c_str());
    return 1;
  }
  printf("%zu rules (%zu enabled)%s: ok\n", rs.rules().size(), rs.enabled_count(),
         files.empty() ? "" : (" in the built-in set and " + std::to_string(files.size()) + " file(s)").c_str());
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

}  // namespace sightline::cli
