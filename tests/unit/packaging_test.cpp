// The deployments grant what the agent asks for, from one list (agent::agent_capabilities()):
// the systemd unit's bounding set and the DaemonSet's capabilities; their memory limits hold
// the configured budget; the pod's configuration is one the agent accepts.
#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <algorithm>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "agent/config.h"
#include "agent/privileges.h"
#include "core/units.h"

using namespace sightline;

namespace {
std::string read(const std::string& rel) {
  std::ifstream in(std::string(SL_SOURCE_DIR) + "/" + rel);
  EXPECT_TRUE(in) << rel;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
std::set<std::string> asked(bool with_prefix) {
  std::set<std::string> s;
  for (const auto& c : agent::agent_capabilities()) s.insert(std::string(c.name).substr(with_prefix ? 0 : 4));
  return s;
}
// The value of `key=` in a unit file (the last one wins, as systemd reads it).
std::string unit_value(const std::string& unit, const std::string& key) {
  std::istringstream in(unit);
  std::string v;
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(key + "=")) v = line.substr(key.size() + 1);
  return v;
}
YAML::Node container(const YAML::Node& ds) { return ds["spec"]["template"]["spec"]["containers"][0]; }
}  // namespace

TEST(Packaging, TheUnitBoundsTheAgentToTheCapabilitiesItAsksFor) {
  std::string unit = read("packaging/sightline.service");
  std::istringstream words(unit_value(unit, "CapabilityBoundingSet"));
  std::set<std::string> granted;
  for (std::string w; words >> w;) granted.insert(w);
  EXPECT_EQ(granted, asked(true));
  EXPECT_EQ(unit_value(unit, "NoNewPrivileges"), "yes");
  EXPECT_EQ(unit_value(unit, "ProtectSystem"), "strict");
  EXPECT_EQ(unit_value(unit, "StateDirectory"), "sightline");  // store.path's directory
  EXPECT_EQ(unit_value(unit, "RuntimeDirectory"), "sightline");  // api_socket's directory
  // MemoryMax holds the default budget with room for the store's page cache.
  uint64_t max = 0;
  ASSERT_TRUE(core::parse_size(unit_value(unit, "MemoryMax") + "iB", &max).ok()) << unit_value(unit, "MemoryMax");
  EXPECT_GE(max, agent::default_config().memory_limit + (32ULL << 20));
}

TEST(Packaging, TheDaemonSetGrantsTheCapabilitiesTheAgentAsksForAndNoMore) {
  YAML::Node ds = YAML::Load(read("deploy/kubernetes/daemonset.yaml"));
  YAML::Node pod = ds["spec"]["template"]["spec"];
  EXPECT_TRUE(pod["hostPID"].as<bool>());
  YAML::Node sc = container(ds)["securityContext"];
  EXPECT_FALSE(sc["privileged"].as<bool>());
  std::set<std::string> added, dropped;
  for (const auto& c : sc["capabilities"]["add"]) added.insert(c.as<std::string>());
  for (const auto& c : sc["capabilities"]["drop"]) dropped.insert(c.as<std::string>());
  EXPECT_EQ(added, asked(false));
  EXPECT_EQ(dropped, std::set<std::string>{"ALL"});
  // The image scripts/image.sh names (io.containerd.image.name) for this version.
  EXPECT_EQ(container(ds)["image"].as<std::string>(), std::string("sightline:") + SIGHTLINE_VERSION);
}

TEST(Packaging, ThePodsConfigurationIsAcceptedAndItsBudgetFitsTheLimit) {
  YAML::Node cm = YAML::Load(read("deploy/kubernetes/configmap.yaml"));
  setenv("SIGHTLINE_API_TOKEN", "from-the-secret", 1);  // the DaemonSet's env, from the Secret
  agent::AgentConfig cfg;
  auto st = agent::parse_config(cm["data"]["sightline.yaml"].as<std::string>(), "configmap.yaml", &cfg);
  unsetenv("SIGHTLINE_API_TOKEN");
  ASSERT_TRUE(st.ok()) << st.message();
  EXPECT_EQ(cfg.api_token, "from-the-secret");
  EXPECT_EQ(cfg.listen, "0.0.0.0:9190");
  YAML::Node ds = YAML::Load(read("deploy/kubernetes/daemonset.yaml"));
  std::string limit = container(ds)["resources"]["limits"]["memory"].as<std::string>();  // "192Mi"
  uint64_t bytes = 0;
  ASSERT_TRUE(core::parse_size(limit + "B", &bytes).ok()) << limit;
  EXPECT_GE(bytes, cfg.memory_limit + (32ULL << 20));
  // The token comes from the Secret the DaemonSet's comment tells to create.
  bool from_secret = false;
  for (const auto& e : container(ds)["env"])
    from_secret |= e["name"].as<std::string>() == "SIGHTLINE_API_TOKEN" && e["valueFrom"]["secretKeyRef"];
  EXPECT_TRUE(from_secret);
  // The probes ask a path served without the token.
  std::string probe = container(ds)["livenessProbe"]["httpGet"]["path"].as<std::string>();
  EXPECT_TRUE(std::count(cfg.public_paths.begin(), cfg.public_paths.end(), probe)) << probe;
}
