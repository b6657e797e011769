// Thin glue over libbpf: its logs go to our logger, its errors become Status values that name
// the program or map, and the per-object health numbers (loss counters, program run stats) are
// read the same way for every source.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

struct bpf_object;
struct bpf_map;

namespace sightline::bpf {

// Routes libbpf's messages into the logger (warnings at debug level unless verbose: a verifier
// dump is for developers, the Status carries the sentence for people).
void install_libbpf_logger(bool verbose);
// The last lines libbpf warned since the previous call (at most `max_lines`; a verifier's
// refusal ends with its reason), and forgets them.
std::vector<std::string> take_libbpf_warnings(size_t max_lines);

// "what: strerror(err)" plus a hint for the errnos people meet (EPERM -> needs root/CAP_BPF).
core::Status libbpf_error(int err, const std::string& what);

// Slots of a per-CPU map value (libbpf_num_possible_cpus, at least 1).
size_t possible_cpus();

// Takes every entry of a hash map of counters (u64 values): the keys, then each entry read and
// deleted (one another CPU recreates meanwhile is read on the next take). Raw key bytes of
// `key_size` each, values in the same order.
void take_counts(int map_fd, size_t key_size, std::vector<uint8_t>* keys, std::vector<uint64_t>* values);
template <class K>
std::vector<std::pair<K, uint64_t>> take_counts(int map_fd) {
  std::vector<uint8_t> raw;
  std::vector<uint64_t> values;
  take_counts(map_fd, sizeof(K), &raw, &values);
  std::vector<std::pair<K, uint64_t>> out(values.size());
  for (size_t i = 0; i < values.size(); i++) {
    __builtin_memcpy(&out[i].first, raw.data() + i * sizeof(K), sizeof(K));
    out[i].second = values[i];
  }
  return out;
}

// Sums a per-CPU array map of u64 counters slot by slot.
std::vector<uint64_t> sum_percpu_u64(const bpf_map* map);

struct ProgramStats {
  std::string name;
  uint64_t run_count = 0;
  uint64_t run_time_ns = 0;  // needs kernel BPF stats enabled (see StatsEnabler)
};
// Every loaded program of the object, with the kernel's run counters.
std::vector<ProgramStats> program_stats(const bpf_object* obj);

struct MapMemory {
  std::string name;
  uint64_t bytes = 0;  // what the kernel charges for it (fdinfo "memlock"); a ring buffer once
};
// Every created map of the object, with its memory.
std::vector<MapMemory> map_memory(const bpf_object* obj);

// Holds kernel BPF run-time statistics on (bpf_enable_stats) while alive.
class StatsEnabler {
 public:
  StatsEnabler();
  ~StatsEnabler();
  StatsEnabler(const StatsEnabler&) = delete;
  StatsEnabler& operator=(const StatsEnabler&) = delete;
  bool enabled() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

}  // namespace sightline::bpf
