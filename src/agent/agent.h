// `sightline agent`: every configured source, the process table, and the HTTP listener with
// /metrics (the agent's own health) and /healthz, until stopped.
#pragma once

#include <atomic>
#include <string>

#include "agent/config.h"

namespace sightline::agent {

// Runs until `stop` is set; returns the process exit code (0 clean, 1 could not run).
// `reload` (SIGHUP) re-reads the rule files between two drains; it is cleared when done.
int run_agent(const AgentConfig& config, const std::atomic<bool>& stop, std::atomic<bool>* reload = nullptr);

}  // namespace sightline::agent
