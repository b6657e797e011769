// One agent per node-wide resource (the API socket, the pinned maps): an flock on a lock file
// held for the process's life, with the holder's PID in it. A second agent is refused with a
// sentence naming the first, instead of taking over the socket and the pins and removing them
// when it stops.
#pragma once

#include <string>

#include "core/status.h"

namespace sightline::agent {

class NodeLock {
 public:
  NodeLock() = default;
  NodeLock(const NodeLock&) = delete;
  NodeLock& operator=(const NodeLock&) = delete;
  ~NodeLock();
  // Takes `lock_path` (its directory made if missing) for `what` ("the API socket /run/...").
  core::Status acquire(const std::string& lock_path, const std::string& what);

 private:
  int fd_ = -1;
  std::string path_;
};

}  // namespace sightline::agent
