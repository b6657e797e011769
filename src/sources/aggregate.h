// What every in-kernel aggregation source does on its interval: walk a per-CPU hash whose keys
// begin with a tgid, sum each key's per-CPU values, turn the kernel's cumulative values into
// deltas added to per-label totals (labels, not pids: pids are unbounded), cap the number of
// label sets with an __overflow__ one, and delete the keys of processes that exited.
#pragma once

#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include <signal.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "bpf/libbpf_util.h"
#include "core/metrics.h"

namespace sightline::sources {

inline constexpr const char* kOverflowLabel = "__overflow__";

inline bool process_alive(uint32_t pid) {
  return kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH;
}

// sightline_series_overflow_total{source}: label sets a source folded into __overflow__.
inline core::MetricFamily overflow_family(const char* source, uint64_t folded) {
  core::MetricFamily f{"sightline_series_overflow_total",
                       "Label sets folded into an __overflow__ label because a family hit its cap",
                       core::MetricType::kCounter};
  f.series.push_back({{{"source", source}}, static_cast<double>(folded), {}});
  return f;
}

// A single counter value for DeltaTotals (same layout as a u64 map value).
struct Count {
  uint64_t n = 0;
  Count& operator+=(const Count& o) {
    n += o.n;
    return *this;
  }
  Count operator-(const Count& o) const { return {n - o.n}; }
};

// Per-process series are kept by a process key: the process's label values as
// "name=value" pairs joined by \x1f, in the order the configuration gives (process_labels:
// comm, container_id, pid). SourceOptions::process_name builds it; sources keep totals by it
// and turn it back into labels with process_labels().
inline constexpr char kKeySep = '\x1f';

// The key of a process: what the runner's resolver says, or comm=unknown without one.
inline std::string process_label(const std::function<std::string(uint32_t)>& key_of, uint32_t tgid) {
  std::string k = key_of ? key_of(tgid) : std::string();
  return k.empty() ? "comm=unknown" : k;
}

// "comm=nginx\x1fpid=7" -> {{"comm","nginx"},{"pid","7"}}, followed by `extra`.
inline core::Labels process_labels(const std::string& key, core::Labels extra = {}) {
  core::Labels out;
  size_t pos = 0;
  while (pos <= key.size()) {
    size_t end = key.find(kKeySep, pos);
    if (end == std::string::npos) end = key.size();
    std::string_view part(key.data() + pos, end - pos);
    size_t eq = part.find('=');
    if (eq != std::string_view::npos)
      out.emplace_back(std::string(part.substr(0, eq)), std::string(part.substr(eq + 1)));
    pos = end + 1;
  }
  for (auto& l : extra) out.push_back(std::move(l));
  return out;
}

// The same dimensions with every value __overflow__: where keys past a family's cap go.
inline std::string overflow_key(const std::string& key) {
  std::string out;
  for (const auto& [name, value] : process_labels(key)) {
    if (!out.empty()) out += kKeySep;
    out += name + "=" + kOverflowLabel;
  }
  return out.empty() ? std::string("comm=") + kOverflowLabel : out;
}

// Val needs `Val& operator+=(const Val&)` and `Val operator-(const Val&) const`.
template <class Key, class Val, class Label>
class DeltaTotals {
 public:
  // Label sets beyond this fold into the one built by overflow(label).
  // settled, when given and set: a key whose process is not settled
  // (SourceOptions::process_settled, kept by BpfSource) is named at a later read (kept in the map
  // till then, nothing lost): a process counted in the middle of its exec would otherwise keep its
  // parent's name for good.
  explicit DeltaTotals(size_t max_series, const std::function<bool(uint32_t tgid)>* settled = nullptr)
      : max_series_(max_series), settled_(settled) {}

  // Reads the map. label_of(key) names a key the first time it is seen; overflow(label)
  // rewrites a new label once the cap is reached. Keys whose process is gone are deleted
  // after this last read; keys_read() counts the walk.
  // A map that is not per CPU (one value a key, kept with atomic adds): per_cpu false.
  void read(int map_fd, const std::function<Label(const Key&)>& label_of,
            const std::function<Label(const Label&)>& overflow, bool per_cpu_map = true) {
    std::vector<Val> per_cpu(per_cpu_map ? bpf::possible_cpus() : 1);
    std::vector<Key> dead;
    Key key{}, next{};
    bool first = true;
    while (bpf_map_get_next_key(map_fd, first ? nullptr : &key, &next) == 0) {
      first = false;
      key = next;
      if (bpf_map_lookup_elem(map_fd, &key, per_cpu.data()) != 0) continue;
      Val sum{};
      for (const auto& v : per_cpu) sum += v;
      State* st = named(key, label_of, overflow);
      if (!st) continue;
      totals_[st->label] += sum - st->last;
      st->last = sum;
      if (!process_alive(tgid_of(key))) dead.push_back(key);
    }
    for (const auto& k : dead) {
      bpf_map_delete_elem(map_fd, &k);
      keys_.erase(id_of(k));
    }
    for (const auto& id : freed_) keys_.erase(id);
    freed_.clear();
  }

  // The same for a direct-mapped cache in front of such a map (sources/cpu_slots.h), read
  // first: n slots in memory the kernel writes, each {Key key; Val val;}, a key (its first word
  // 0: free; a tgid leads it) and what it counted since it took the slot. The kernel takes a free
  // slot by writing its key's words last to first, so a key is read first word first and taken
  // when read twice alike. A slot whose process exited is freed after this last read: its value
  // zeroed, then its key's words, the first last. Its keys keep their names till the map's read
  // after this one (read), which forgets them.
  template <class Slot>
  void read_slots(Slot* slots, size_t n, const std::function<Label(const Key&)>& label_of,
                  const std::function<Label(const Label&)>& overflow) {
    static_assert(sizeof(Key) % sizeof(uint64_t) == 0 && sizeof(Val) % sizeof(uint64_t) == 0);
    constexpr size_t vwords = sizeof(Val) / sizeof(uint64_t);
    slot_last_.resize(n);
    for (size_t i = 0; i < n; i++) {
      auto* held = reinterpret_cast<uint64_t*>(&slots[i].key);
      SlotLast& last = slot_last_[i];
      RawKey raw{};
      for (size_t w = 0; w < kKeyWords; w++) raw[w] = __atomic_load_n(&held[w], __ATOMIC_ACQUIRE);
      if (!raw[0]) {
        last = {};
        continue;
      }
      Val v{};
      auto* from = reinterpret_cast<uint64_t*>(&slots[i].val);
      auto* to = reinterpret_cast<uint64_t*>(&v);
      for (size_t w = 0; w < vwords; w++) to[w] = __atomic_load_n(&from[w], __ATOMIC_RELAXED);
      bool same = true;
      for (size_t w = 0; w < kKeyWords; w++) same &= __atomic_load_n(&held[w], __ATOMIC_ACQUIRE) == raw[w];
      if (!same) continue;  // taken anew meanwhile: next read
      Key key;
      std::memcpy(&key, raw.data(), sizeof key);
      State* st = named(key, label_of, overflow);
      if (!st) continue;
      totals_[st->label] += v - (last.key == raw ? last.val : Val{});
      last = {raw, v};
      if (process_alive(tgid_of(key))) continue;
      for (size_t w = 0; w < vwords; w++) __atomic_store_n(&from[w], 0, __ATOMIC_RELAXED);
      for (size_t w = kKeyWords; w-- > 0;) __atomic_store_n(&held[w], 0, __ATOMIC_RELEASE);
      last = {};
      freed_.push_back(id_of(key));
    }
  }

  const std::map<Label, Val>& totals() const { return totals_; }
  uint64_t overflowed() const { return overflowed_; }  // label sets folded so far

 private:
  struct State {
    Val last;
    Label label;
  };
  // The process of a key: the key itself (sched), else its tgid field wherever it is (uprobe's
  // comes after the probe id).
  static uint32_t tgid_of(const Key& k) {
    if constexpr (std::is_integral_v<Key>)
      return static_cast<uint32_t>(k);
    else
      return k.tgid;
  }
  // The state of a key, named the first time (nullptr: its process is not settled yet).
  State* named(const Key& key, const std::function<Label(const Key&)>& label_of,
               const std::function<Label(const Label&)>& overflow) {
    std::string id = id_of(key);
    auto it = keys_.find(id);
    if (it == keys_.end()) {
      if (settled_ && *settled_ && !(*settled_)(tgid_of(key))) return nullptr;
      Label label = label_of(key);
      if (!totals_.count(label) && totals_.size() >= max_series_) {
        label = overflow(label);
        overflowed_++;
      }
      it = keys_.emplace(id, State{Val{}, label}).first;
    }
    return &it->second;
  }
  static constexpr size_t kKeyWords = (sizeof(Key) + sizeof(uint64_t) - 1) / sizeof(uint64_t);
  using RawKey = std::array<uint64_t, kKeyWords>;
  static std::string id_of(const Key& k) { return std::string(reinterpret_cast<const char*>(&k), sizeof k); }
  struct SlotLast {
    RawKey key{};  // the raw key the slot held at the last read
    Val val{};
  };
  std::vector<SlotLast> slot_last_;
  std::vector<std::string> freed_;  // keys of slots freed, forgotten after the map's read
  size_t max_series_;
  const std::function<bool(uint32_t)>* settled_;
  std::map<std::string, State> keys_;  // raw kernel key -> what was read last, and its label
  std::map<Label, Val> totals_;
  uint64_t overflowed_ = 0;
};

}  // namespace sightline::sources
