#include "agent/node_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>

namespace sightline::agent {

NodeLock::~NodeLock() {
  if (fd_ < 0) return;
  // Emptied, not removed: removing would let another agent lock a new file beside a holder.
  (void)!ftruncate(fd_, 0);
  close(fd_);
}

core::Status NodeLock::acquire(const std::string& lock_path, const std::string& what) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(lock_path).parent_path(), ec);
  int fd = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return core::Status::error(errno, lock_path + ": " + strerror(errno));
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    int err = errno;
    char buf[32] = {};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    close(fd);
    std::string pid = n > 0 ? std::string(buf, static_cast<size_t>(n)) : "";
    while (!pid.empty() && (pid.back() == '\n' || pid.back() == ' ')) pid.pop_back();
    if (err == EWOULDBLOCK)
      return core::Status::error(EBUSY, "another sightline agent" + (pid.empty() ? "" : " (pid " + pid + ")") +
                                            " holds " + what + " on this node (" + lock_path +
                                            "): stop it first, or give this one its own api_socket/pin_maps");
    return core::Status::error(err, lock_path + ": " + strerror(err));
  }
  std::string me = std::to_string(getpid()) + "\n";
  if (ftruncate(fd, 0) != 0 || pwrite(fd, me.data(), me.size(), 0) != static_cast<ssize_t>(me.size())) {
    int err = errno;
    close(fd);
    return core::Status::error(err, lock_path + ": " + strerror(err));
  }
  fd_ = fd;
  path_ = lock_path;
  return {};
}

}  // namespace sightline::agent
