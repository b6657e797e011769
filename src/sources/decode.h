// Decoders of the kernel's records: pure functions from bytes to events, so they are fuzzed
// (tests/fuzz/) as the parsers they are. A record too short or of an unknown kind is refused.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "core/event.h"

struct sl_event_hdr;
struct sl_flow_key;
struct sl_flow_val;

namespace sightline::sources {

// Header fields of every record (sightline/common.h) into the event, clock converted.
void decode_header(const sl_event_hdr& h, core::Event& e);
// process source records: exec, fork, exit.
bool decode_process_record(const void* data, size_t size, core::Event& e);
// file source records: open.
bool decode_file_record(const void* data, size_t size, core::Event& e);
// net source records: tcp.
bool decode_net_record(const void* data, size_t size, core::Event& e);
// packets source records: drop. The kernel's reason and the freeing address are the caller's
// to name (drop_reasons(), kallsyms).
bool decode_drop_record(const void* data, size_t size, core::Event& e, uint32_t* reason, uint64_t* location);
// One entry of the packets source's flow table: kind, ends, counts, direction, mid-way, cgroup
// and the time of `state` (new: its first packet, else its last). State and the ends' owners
// are the caller's; `lo_ifindex` marks local flows.
void decode_flow(const sl_flow_key& k, const sl_flow_val& v, uint32_t lo_ifindex, core::Event& e);
// block source records: block_io. The device (major << 20 | minor) and the REQ_OP are the
// caller's to name.
bool decode_block_io_record(const void* data, size_t size, core::Event& e, uint32_t* dev, uint32_t* op);
// uprobe source records; `probe_names[id]` names the probe (an unknown id is refused).
// security source records; `names[id]` is the syscall (an unknown id is refused).
bool decode_security_record(const void* data, size_t size, const std::vector<std::string>& names, core::Event& e);
// enforcement records (bpf/enforce.bpf.c): an open or exec event carrying the action.
bool decode_enforce_record(const void* data, size_t size, core::Event& e);
bool decode_uprobe_record(const void* data, size_t size, const std::vector<std::string>& probe_names,
                          core::Event& e);

}  // namespace sightline::sources
