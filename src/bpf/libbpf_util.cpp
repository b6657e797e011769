#include "bpf/libbpf_util.h"

#include <fstream>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <cerrno>
#include <cstdarg>
#include <cstring>
#include <deque>
#include <mutex>
#include <string>

namespace sightline::bpf {
namespace {
bool g_verbose = false;
// The latest lines libbpf warned (a verifier's refusal ends there), bounded.
constexpr size_t kWarnLines = 64;
std::mutex g_warn_mu;
std::deque<std::string> g_warn_lines;

void remember_warning(const std::string& text) {
  std::lock_guard<std::mutex> lock(g_warn_mu);
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    if (!line.empty()) g_warn_lines.push_back(std::move(line));
    if (g_warn_lines.size() > kWarnLines) g_warn_lines.pop_front();
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
}

int libbpf_print(enum libbpf_print_level level, const char* fmt, va_list ap) {
  if (level == LIBBPF_DEBUG && !g_verbose) return 0;
  // Verifier logs run to many kilobytes: size the buffer to the message.
  va_list again;
  va_copy(again, ap);
  int len = vsnprintf(nullptr, 0, fmt, ap);
  std::string buf(len > 0 ? static_cast<size_t>(len) + 1 : 1, '\0');
  vsnprintf(buf.data(), buf.size(), fmt, again);
  va_end(again);
  buf.resize(len > 0 ? static_cast<size_t>(len) : 0);
  while (!buf.empty() && buf.back() == '\n') buf.pop_back();
  if (level == LIBBPF_WARN) remember_warning(buf);
  if (level == LIBBPF_WARN && g_verbose)
    spdlog::warn("libbpf: {}", buf);
  else
    spdlog::debug("libbpf: {}", buf);
  return 0;
}
}  // namespace

std::vector<std::string> take_libbpf_warnings(size_t max_lines) {
  std::lock_guard<std::mutex> lock(g_warn_mu);
  size_t from = g_warn_lines.size() > max_lines ? g_warn_lines.size() - max_lines : 0;
  std::vector<std::string> out(g_warn_lines.begin() + static_cast<long>(from), g_warn_lines.end());
  g_warn_lines.clear();
  return out;
}

void install_libbpf_logger(bool verbose) {
  g_verbose = verbose;
  libbpf_set_print(libbpf_print);
}

core::Status libbpf_error(int err, const std::string& what) {
  if (err < 0) err = -err;
  std::string msg = what + ": " + strerror(err);
  if (err == EACCES && what.find("loading") != std::string::npos)
    msg += " (the kernel's verifier refused a program: run with -v for its log)";
  else if (err == EPERM || err == EACCES)
    msg += " (loading BPF needs root, or CAP_BPF and CAP_PERFMON; `sightline doctor` checks)";
  else if (err == ENOENT)
    msg += " (the kernel lacks this hook; `sightline doctor` lists what it has)";
  return core::Status::error(err, msg);
}

size_t possible_cpus() {
  static const size_t n = [] {
    int c = libbpf_num_possible_cpus();
    return static_cast<size_t>(c > 0 ? c : 1);
  }();
  return n;
}

void take_counts(int map_fd, size_t key_size, std::vector<uint8_t>* keys, std::vector<uint64_t>* values) {
  std::vector<uint8_t> all, key(key_size), next(key_size);
  for (bool first = true; bpf_map_get_next_key(map_fd, first ? nullptr : key.data(), next.data()) == 0; first = false) {
    key = next;
    all.insert(all.end(), key.begin(), key.end());
  }
  for (size_t off = 0; off + key_size <= all.size(); off += key_size) {
    const uint8_t* k = all.data() + off;
    uint64_t v = 0;
    if (bpf_map_lookup_and_delete_elem(map_fd, k, &v) != 0 &&
        (bpf_map_lookup_elem(map_fd, k, &v) != 0 || bpf_map_delete_elem(map_fd, k) != 0))
      continue;
    keys->insert(keys->end(), k, k + key_size);
    values->push_back(v);
  }
}

std::vector<uint64_t> sum_percpu_u64(const bpf_map* map) {
  uint32_t slots = bpf_map__max_entries(map);
  int ncpu = libbpf_num_possible_cpus();
  std::vector<uint64_t> sums(slots, 0);
  if (ncpu <= 0) return sums;
  std::vector<uint64_t> values(static_cast<size_t>(ncpu));
  int fd = bpf_map__fd(map);
  for (uint32_t k = 0; k < slots; k++) {
    if (bpf_map_lookup_elem(fd, &k, values.data()) != 0) continue;
    for (uint64_t v : values) sums[k] += v;
  }
  return sums;
}

std::vector<ProgramStats> program_stats(const bpf_object* obj) {
  std::vector<ProgramStats> out;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    int fd = bpf_program__fd(prog);
    if (fd < 0) continue;
    struct bpf_prog_info info;
    memset(&info, 0, sizeof info);
    uint32_t len = sizeof info;
    if (bpf_obj_get_info_by_fd(fd, &info, &len) != 0) continue;
    out.push_back({bpf_program__name(prog), info.run_cnt, info.run_time_ns});
  }
  return out;
}

std::vector<MapMemory> map_memory(const bpf_object* obj) {
  std::vector<MapMemory> out;
  bpf_map* map;
  bpf_object__for_each_map(map, obj) {
    int fd = bpf_map__fd(map);
    if (fd < 0) continue;
    std::ifstream in("/proc/self/fdinfo/" + std::to_string(fd));
    for (std::string line; std::getline(in, line);)
      if (line.starts_with("memlock:")) out.push_back({bpf_map__name(map), std::strtoull(line.c_str() + 8, nullptr, 10)});
  }
  return out;
}

StatsEnabler::StatsEnabler() { fd_ = bpf_enable_stats(BPF_STATS_RUN_TIME); }
StatsEnabler::~StatsEnabler() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace sightline::bpf
