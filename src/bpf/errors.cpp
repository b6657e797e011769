#include "bpf/errors.h"

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <string.h>

#include <algorithm>
#include <tuple>

#include "sightline/common.h"

namespace sightline::bpf {

std::string error_where(std::string_view source, uint16_t file, uint16_t line) {
  std::string f;
  switch (file) {
    case SL_FILE_MAIN: f = std::string(source) + ".bpf.c"; break;
    case SL_FILE_COMMON: f = "common.bpf.h"; break;
    case SL_FILE_SOCK: f = "sock.bpf.h"; break;
    case SL_FILE_SOCK_TRAFFIC: f = "sock_traffic.bpf.h"; break;
    default: f = "file" + std::to_string(file); break;
  }
  return f + ":" + std::to_string(line);
}

std::string_view helper_name(uint16_t helper) {
  switch (helper) {
    case SL_H_PROBE_READ_USER: return "probe_read_user";
    case SL_H_PROBE_READ_USER_STR: return "probe_read_user_str";
    case SL_H_PROBE_READ_KERNEL: return "probe_read_kernel";
    case SL_H_PROBE_READ_KERNEL_STR: return "probe_read_kernel_str";
    case SL_H_MAP_UPDATE: return "map_update_elem";
    case SL_H_RINGBUF_RESERVE: return "ringbuf_reserve";
    case SL_H_RINGBUF_OUTPUT: return "ringbuf_output";
    case SL_H_GET_STACKID: return "get_stackid";
    case SL_H_PERF_EVENT_OUTPUT: return "perf_event_output";
  }
  return "unknown";
}

std::string errno_name(int err) {
  err = err < 0 ? -err : err;
  if (const char* n = strerrorname_np(err)) return n;
  return "E" + std::to_string(err);
}

std::vector<HelperError> read_helper_errors(const bpf_map* map, std::string_view source) {
  std::vector<HelperError> out;
  if (!map) return out;
  int fd = bpf_map__fd(map);
  int ncpu = libbpf_num_possible_cpus();
  if (fd < 0 || ncpu <= 0) return out;
  std::vector<uint64_t> values(static_cast<size_t>(ncpu));
  std::vector<std::pair<sl_err_key, uint64_t>> sites;
  sl_err_key key{}, next{};
  const void* prev = nullptr;
  // Bounded by the map's own size; the programs may insert meanwhile, which only adds sites.
  for (int i = 0; i < SL_MAX_ERR_SITES && bpf_map_get_next_key(fd, prev, &next) == 0; i++) {
    key = next;
    prev = &key;
    if (bpf_map_lookup_elem(fd, &key, values.data()) != 0) continue;
    uint64_t sum = 0;
    for (uint64_t v : values) sum += v;
    if (sum) sites.emplace_back(key, sum);
  }
  auto order = [](const sl_err_key& k) { return std::tuple(k.file, k.line, k.helper, -k.err); };
  std::sort(sites.begin(), sites.end(), [&](const auto& a, const auto& b) { return order(a.first) < order(b.first); });
  for (const auto& [k, sum] : sites)
    out.push_back({error_where(source, k.file, k.line), std::string(helper_name(k.helper)), errno_name(k.err), sum});
  return out;
}

}  // namespace sightline::bpf
