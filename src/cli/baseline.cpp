// `sightline baseline`: the learnt profiles the agent keeps (rules.baseline.file, by default
// baseline.json beside the store), as a table per workload or as the JSON itself.
#include <yaml-cpp/yaml.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string>

#include "agent/config.h"
#include "cli/commands.h"

namespace sightline::cli {

int baseline(const std::string& config, const std::string& file_arg, bool json) {
  std::string file = file_arg;
  if (file.empty()) {
    agent::AgentConfig cfg = agent::default_config();
    if (!config.empty())
      if (auto st = agent::load_config(config, &cfg); !st) {
        fprintf(stderr, "%s\n", st.message().c_str());
        return 1;
      }
    file = agent::baseline_file(cfg);
    if (file.empty()) {
      fprintf(stderr, "no profiles are kept: the store is off and rules.baseline.file is empty\n");
      return 1;
    }
  }
  std::ifstream in(file);
  if (!in) {
    fprintf(stderr, "%s: no saved profiles (the agent writes them every minute and at stop)\n", file.c_str());
    return 1;
  }
  std::string text{std::istreambuf_iterator<char>(in), {}};
  if (json) {
    fputs(text.c_str(), stdout);
    fputc('\n', stdout);
    return 0;
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    fprintf(stderr, "%s: not the agent's profiles: %s\n", file.c_str(), e.what());
    return 1;
  }
  YAML::Node ws = root["workloads"];
  if (!ws || !ws.IsSequence()) {
    fprintf(stderr, "%s: not the agent's profiles (no 'workloads')\n", file.c_str());
    return 1;
  }
  static const char* kCats[] = {"executable", "write_dir", "outbound", "listen_port", "syscall"};
  printf("%zu workloads (window %s s) from %s\n", ws.size(), root["window_s"] ? root["window_s"].Scalar().c_str() : "?",
         file.c_str());
  for (const auto& w : ws) {
    bool learning = w["learning"] && w["learning"].as<bool>(false);
    bool unsettled = w["unsettled"] && w["unsettled"].as<bool>(false);
    printf("\n%s  [%s, %s s]\n", w["workload"].Scalar().c_str(),
           unsettled ? "never settles" : learning ? "learning" : "settled", w["age_s"] ? w["age_s"].Scalar().c_str() : "?");
    for (const char* c : kCats) {
      YAML::Node vals = w[c];
      if (!vals || !vals.IsMap() || vals.size() == 0) continue;
      std::string line;
      for (const auto& kv : vals) line += (line.empty() ? "" : ", ") + kv.first.Scalar() + " (" + kv.second.Scalar() + ")";
      printf("  %-12s %s\n", c, line.c_str());
    }
  }
  return 0;
}

}  // namespace sightline::cli
