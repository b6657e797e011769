#include "sources/bpf_source.h"

#include <unistd.h>

#include <cstring>
#include <ctime>
#include <filesystem>

#include <unistd.h>

#include "bpf/libbpf_util.h"

namespace sightline::sources {

int BpfSource::on_record(void* ctx, void* data, size_t size) {
  auto* self = static_cast<BpfSource*>(ctx);
  auto& counter = self->decode(data, size) ? self->events_ : self->decode_errors_;
  counter.store(counter.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  return 0;
}

core::Status BpfSource::open_ring(bpf_object* obj, EventSink* sink) {
  obj_ = obj;
  sink_ = sink;
  stats_map_ = bpf_object__find_map_by_name(obj, "sl_stats");
  errors_map_ = bpf_object__find_map_by_name(obj, "sl_errors");
  bpf_map* events = bpf_object__find_map_by_name(obj, "events");
  if (!events) return {};  // an aggregation-only source
  return rb_.open(events, &BpfSource::on_record, this, ring_bytes_);
}

core::Status BpfSource::pin_maps(const std::string& dir, std::vector<std::string>* pinned) {
  if (!obj_) return core::Status::error(EINVAL, "not running");
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return core::Status::error(ec.value(), dir + ": " + ec.message());
  bpf_map* m;
  bpf_object__for_each_map(m, obj_) {
    std::string_view n = bpf_map__name(m);
    // The ring buffer is the agent's to read; .rodata, .bss and the like are the program's.
    if (bpf_map__type(m) == BPF_MAP_TYPE_RINGBUF || bpf_map__type(m) == BPF_MAP_TYPE_PERF_EVENT_ARRAY ||
        n == "sl_scratch" || n.find('.') != std::string_view::npos)
      continue;
    std::string path = dir + "/" + std::string(n);
    unlink(path.c_str());  // left by a run that was killed
    if (int err = bpf_map__pin(m, path.c_str()); err)
      return core::Status::error(-err, path + ": cannot pin: " + strerror(-err));
    pins_.push_back(path);
    pinned->emplace_back(n);
  }
  return {};
}

void BpfSource::close_ring() {
  for (const auto& p : pins_) unlink(p.c_str());
  if (!pins_.empty()) rmdir(std::filesystem::path(pins_.front()).parent_path().c_str());
  pins_.clear();
  rb_.close();
  obj_ = nullptr;
  stats_map_ = nullptr;
  errors_map_ = nullptr;
}

SourceStats BpfSource::stats() const {
  SourceStats s;
  s.events = events_.load(std::memory_order_relaxed);
  s.decode_errors = decode_errors_.load(std::memory_order_relaxed);
  if (stats_map_) {
    auto v = bpf::sum_percpu_u64(stats_map_);
    if (v.size() > SL_STAT_MAP_FULL) {
      s.lost_ringbuf = v[SL_STAT_RB_LOST];
      s.lost_pairing = v[SL_STAT_PAIR_LOST];
      s.unpaired = v[SL_STAT_PAIR_MISS];
      s.map_full = v[SL_STAT_MAP_FULL];
    }
  }
  return s;
}

std::vector<bpf::HelperError> BpfSource::helper_errors() const {
  return bpf::read_helper_errors(errors_map_, name());
}

std::vector<bpf::MapMemory> BpfSource::map_memory() const {
  if (!obj_) return {};
  auto out = bpf::map_memory(obj_);
  if (rb_.perf()) out.push_back({"events (perf buffers)", rb_.perf_bytes()});
  return out;
}

std::vector<bpf::ProgramStats> BpfSource::program_stats() const {
  return obj_ ? bpf::program_stats(obj_) : std::vector<bpf::ProgramStats>{};
}

void BpfSource::allocate_on_use(bpf_object* obj, const bpf::Features& f) {
  if (!f.htab_mem_alloc) return;
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    if (bpf_program__autoload(prog) && bpf_program__type(prog) == BPF_PROG_TYPE_PERF_EVENT) return;
  }
  bpf_map* m;
  bpf_object__for_each_map(m, obj) {
    auto t = bpf_map__type(m);
    if (t == BPF_MAP_TYPE_HASH || t == BPF_MAP_TYPE_PERCPU_HASH)
      bpf_map__set_map_flags(m, bpf_map__map_flags(m) | BPF_F_NO_PREALLOC);
  }
}

void BpfSource::thread_state_maps(bpf_object* obj, const bpf::Features& f) {
  if (has_task_storage(f)) return;
  bpf_map* m;
  bpf_object__for_each_map(m, obj) {
    if (bpf_map__type(m) != BPF_MAP_TYPE_TASK_STORAGE) continue;
    bpf_map__set_type(m, BPF_MAP_TYPE_LRU_HASH);
    bpf_map__set_map_flags(m, 0);  // an LRU hash is preallocated
    bpf_map__set_max_entries(m, SL_MAX_THREADS);
  }
}

void BpfSource::apply_plan(bpf_object* obj, const std::vector<Hook>& plan) {
  bpf_program* prog;
  bpf_object__for_each_program(prog, obj) {
    bool on = false;  // a program behind several hooks loads when any of them is on
    for (const auto& h : plan)
      if (h.program == bpf_program__name(prog)) on |= h.enabled;
    bpf_program__set_autoload(prog, on);
  }
}

core::Status BpfSource::check_plan(std::string_view source, const std::vector<Hook>& plan) {
  for (const auto& h : plan)
    if (h.enabled) return {};
  std::string why;
  for (const auto& h : plan)
    if (!h.note.empty() && h.note != "not requested" && why.find(h.note) == std::string::npos)
      why += (why.empty() ? "" : "; ") + h.note;
  return core::Status::error(ENOTSUP, std::string(source) + " source cannot run: " +
                                          (why.empty() ? "no usable hook" : why));
}

uint32_t BpfSource::ring_size(uint32_t requested, uint32_t dflt) {
  uint32_t page = static_cast<uint32_t>(sysconf(_SC_PAGESIZE));
  uint32_t n = requested ? requested : dflt;
  uint32_t p = page;
  while (p < n && p < (1u << 30)) p <<= 1;  // round up to a power of two
  return p;
}

uint64_t BpfSource::boot_minus_mono_ns() {
  timespec b{}, m{};
  clock_gettime(CLOCK_BOOTTIME, &b);
  clock_gettime(CLOCK_MONOTONIC, &m);
  return static_cast<uint64_t>((b.tv_sec - m.tv_sec) * 1000000000LL + (b.tv_nsec - m.tv_nsec));
}

std::string BpfSource::base_requirements(const bpf::Features& f) {
  if (!f.btf) return "no kernel BTF (CONFIG_DEBUG_INFO_BTF)";
  if (!f.can_load) return "cannot load BPF programs (needs root or CAP_BPF+CAP_PERFMON)";
  if (f.tracefs.empty()) return "tracefs is not mounted and could not be mounted";
  return {};
}

std::vector<Hook> BpfSource::tp_btf_plan(
    const bpf::Features& f, std::initializer_list<std::pair<const char*, const char*>> programs) {
  std::string why;
  if (!f.btf || !f.can_load)
    why = base_requirements(f);
  else if (!f.tp_btf)
    why = "needs tp_btf (kernel 5.5+)";
  std::vector<Hook> hooks;
  for (const auto& [program, tp] : programs)
    hooks.push_back(Hook{program, std::string("tp_btf ") + tp, why.empty(), why});
  return hooks;
}

Hook BpfSource::tracepoint_hook(const bpf::Features& f, const char* program, const char* category,
                                const char* name, bool wanted, const std::string& base) {
  Hook h{program, std::string("tracepoint ") + category + "/" + name, false, ""};
  if (!wanted)
    h.note = "not requested";
  else if (!base.empty())
    h.note = base;
  else if (!f.tracepoint_exists(category, name))
    h.note = std::string("tracepoint ") + category + "/" + name + " not in this kernel" +
             (std::string_view(category) == "syscalls" ? " (CONFIG_FTRACE_SYSCALLS off?)" : "");
  else
    h.enabled = true;
  return h;
}

}  // namespace sightline::sources
