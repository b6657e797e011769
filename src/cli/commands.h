// Subcommands of the sightline binary; main.cpp parses the command line and calls these.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>
#include <vector>

namespace sightline::cli {

// Set by SIGINT/SIGTERM; every long-running command polls it.
extern std::atomic<bool> g_stop;
void install_signal_handlers();

struct TraceArgs {
  std::vector<std::string> kinds;  // exec fork exit open, or source names
  uint32_t pid = 0;
  std::string comm;
  std::string cgroup;  // cgroup v2 path (absolute, or relative to the v2 mount)
  bool failed = false;
  double duration_s = 0;
  bool json = false;
  bool no_header = false;
  uint32_t ring_bytes = 0;
  uint32_t poll_ms = 100;
};
int trace(const TraceArgs& args);
int doctor();
int schema(bool json);

}  // namespace sightline::cli
