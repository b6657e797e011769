// sched source: CPU time, run-queue wait, blocked time and context switches per process, and
// the node's run-queue latency histogram, aggregated in the kernel.
#pragma once
#include <memory>

#include "sightline/sched.h"
#include "sources/source.h"

namespace sightline::sources {
// A thread's time so far as the sched source accounts it in the kernel (issue 20.1): by its
// pidfd (pid: a process's main thread; other threads need PIDFD_THREAD, Linux 6.9).
class ThreadTimeProvider {
 public:
  virtual ~ThreadTimeProvider() = default;
  virtual bool thread_time(int pid, sl_thread_time* out) const = 0;
};
std::unique_ptr<Source> make_sched_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kSchedSource;
}
