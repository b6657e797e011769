// Errors as values: a message a person can act on plus the errno behind it. No exceptions
// cross a layer boundary.
#pragma once

#include <string>
#include <utility>

namespace sightline::core {

class [[nodiscard]] Status {
 public:
  Status() = default;
  static Status error(int err, std::string message) { return Status(err, std::move(message)); }
  static Status error(std::string message) { return Status(0, std::move(message)); }

  bool ok() const { return !failed_; }
  explicit operator bool() const { return ok(); }
  int err() const { return err_; }  // positive errno, or 0 when not from a system call
  const std::string& message() const { return message_; }

 private:
  Status(int err, std::string message) : failed_(true), err_(err), message_(std::move(message)) {}
  bool failed_ = false;
  int err_ = 0;
  std::string message_;
};

}  // namespace sightline::core
