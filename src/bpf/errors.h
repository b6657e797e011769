// Failed helper calls the BPF programs counted where they happened (map `sl_errors`, see
// bpf/common.bpf.h): read per object, named for people (file:line, helper, errno).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

struct bpf_map;

namespace sightline::bpf {

struct HelperError {
  std::string where;   // "file.bpf.c:69", "sock.bpf.h:30"
  std::string helper;  // "probe_read_user_str"
  std::string err;     // "EFAULT"
  uint64_t count = 0;  // summed over CPUs
};

// Names of one site of `source`'s object (pure; unit-tested).
std::string error_where(std::string_view source, uint16_t file, uint16_t line);
std::string_view helper_name(uint16_t helper);
std::string errno_name(int err);  // 14 -> "EFAULT"; an unknown one -> "E123"

// Every non-zero site in the object's `sl_errors` map, in key order.
std::vector<HelperError> read_helper_errors(const bpf_map* map, std::string_view source);

}  // namespace sightline::bpf
