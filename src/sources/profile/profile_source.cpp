// profile source (bpf/profile.bpf.c, sightline/profile.h).
#include "sources/profile/profile_source.h"

#include <linux/perf_event.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <mutex>
#include <set>

#include "bpf/libbpf_util.h"
#include "core/clock.h"
#include "sightline/profile.h"
#include "sources/aggregate.h"
#include "sources/bpf_source.h"
#include "sources/profile/unwind_tables.h"
#include "symbols/dwarf_unwind.h"
#include "symbols/python_frames.h"

// The skeleton names the ABI types of sightline/*.h: it comes after them.
#include "profile.skel.h"

namespace sightline::sources {
namespace {

constexpr SkeletonFns<profile_bpf> kFns = {&profile_bpf__open, &profile_bpf__load,
                                           &profile_bpf__attach, &profile_bpf__destroy};

class ProfileSourceImpl final : public ProfileSource {
 public:
  ~ProfileSourceImpl() override { stop(); }
  std::string_view name() const override { return "profile"; }

  std::vector<Hook> plan(const bpf::Features& f, const SourceOptions& o) const override {
    std::string base = BpfSource_base(f);
    std::string on_note = !base.empty()            ? base
                          : !f.prog_perf_event     ? "needs BPF_PROG_TYPE_PERF_EVENT"
                          : !f.perf_event          ? "perf_event_open of cpu-clock refused"
                          : !o.own_as<ProfileOptions>().on_cpu              ? "not requested"
                                                   : "";
    std::string off_note = !base.empty()                            ? base
                           : !o.own_as<ProfileOptions>().off_cpu                              ? "not requested (--off-cpu)"
                           : !f.tp_btf                               ? "needs tp_btf (kernel 5.5+)"
                                                                     : "";
    const auto& po = o.own_as<ProfileOptions>();
    bool tables = kernel_unwind(f, po);
    std::string walk = po.dwarf_unwind ? "; user stacks copied, unwound in user space"
                       : tables        ? "; user stacks unwound in the kernel with .eh_frame tables"
                                       : "; user stacks by frame pointers";
    std::string tables_note = !po.kernel_unwind || po.dwarf_unwind ? "not requested"
                              : !f.bpf_loop                        ? "needs bpf_loop (kernel 5.17)"
                              : !f.task_pt_regs                    ? "needs bpf_task_pt_regs (kernel 5.15)"
                              : !f.tp_btf                          ? "needs tp_btf"
                                                                   : "";
    std::vector<Hook> hooks = {{"sl_profile", "perf_event cpu-clock " + std::to_string(po.hz) + " Hz, every CPU" + walk,
                                on_note.empty(), on_note},
                               {"sl_offcpu", "tp_btf sched_switch", off_note.empty(), off_note}};
    if (!po.dwarf_unwind && po.kernel_unwind)
      hooks.push_back({"sl_unw_exec", "tp_btf sched_process_exec, sched_process_exit: a process's unwind tables end",
                       tables && on_note.empty(), tables_note.empty() ? on_note : tables_note});
    return hooks;
  }

  static bool kernel_unwind(const bpf::Features& f, const ProfileOptions& po) {
#if defined(__x86_64__)
    return po.kernel_unwind && !po.dwarf_unwind && f.bpf_loop && f.task_pt_regs && f.tp_btf;
#else
    (void)f, (void)po;
    return false;  // the tables and the walk are x86-64's
#endif
  }

  core::Status start(const SourceOptions& o, const bpf::Features& f, EventSink* sink) override {
    stop();
    hz_ = std::max<uint32_t>(1, std::min<uint32_t>(o.own_as<ProfileOptions>().hz, 10000));
    // Per-request stacks read the sched source's thread state from the sampling timer's
    // interrupt: only where that state is task storage (6.4+). Before, it is an LRU hash that
    // sched_switch fills under the run-queue lock, and 6.1 froze once under CI with the timer
    // reading it (not reproduced; see docs/timelines.md): the older kernels go without.
    request_stacks_ = o.thread_time_fd >= 0 && o.own_as<ProfileOptions>().request_stacks &&
                      !o.own_as<ProfileOptions>().dwarf_unwind && Bpf::task_storage(f);
    kernel_unwind_ = kernel_unwind(f, o.own_as<ProfileOptions>());
    sym_.set_name_unnamed(kernel_unwind_ || o.own_as<ProfileOptions>().dwarf_unwind);
    // Two thirds for symbol tables (a large C++ program's, node's, is 12 MiB), a third for DWARF.
    if (o.cache_bytes) sym_.set_budget(o.cache_bytes * 2 / 3, o.cache_bytes / 3);
    src_.target_ = this;
    core::Status st = src_.start_with(o, f, sink, this);
    if (!st) return st;
    if (kernel_unwind_) {
      tables_ = std::make_unique<UnwindTables>();
      tables_->set_cpu_share(o.background_cpus);
      st = tables_->open(bpf_map__fd(src_.skel()->maps.unw_rows), UnwindTables::kDefaultRows,
                        bpf_map__fd(src_.skel()->maps.unw_procs));
      if (!st) {
        stop();
        return st;
      }
      // One process profiled: its tables now, not at its first sample's ask.
      if (o.filter.pid) (void)tables_->load(o.filter.pid);
    }
    if (o.own_as<ProfileOptions>().on_cpu && f.perf_event && f.prog_perf_event) {
      size_t attached = 0;
      for (int cpu = 0; cpu < static_cast<int>(bpf::possible_cpus()); cpu++) {
        perf_event_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.size = sizeof attr;
        attr.type = PERF_TYPE_SOFTWARE;
        attr.config = PERF_COUNT_SW_CPU_CLOCK;
        attr.freq = 1;
        attr.sample_freq = hz_;
        int fd = static_cast<int>(syscall(SYS_perf_event_open, &attr, -1, cpu, -1, PERF_FLAG_FD_CLOEXEC));
        if (fd < 0) continue;  // an offline CPU
        bpf_link* link = bpf_program__attach_perf_event(src_.skel()->progs.sl_profile, fd);
        if (!link) {
          int err = errno;
          close(fd);
          stop();
          return bpf::libbpf_error(err, "profile: attaching to the cpu-clock event of CPU " + std::to_string(cpu));
        }
        src_.keep(link);  // the link owns the perf event fd
        attached++;
      }
      if (!attached) {
        stop();
        return core::Status::error(ENODEV, "profile: no CPU accepted a cpu-clock perf event");
      }
    }
    start_ns_ = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                          std::chrono::system_clock::now().time_since_epoch())
                                          .count());
    // Kernel symbols now: /proc/kallsyms shows addresses only to CAP_SYSLOG, which the agent
    // drops once every source is running.
    (void)sym_.kernel(0);
    return {};
  }

  int epoll_fd() const override { return src_.epoll_fd(); }
  int consume() override { return src_.consume(); }

  void collect(std::vector<core::MetricFamily>& out) override {
    if (!src_.skel()) return;
    profile::Profile on, off;
    drain(&on, &off);
    // Per-process samples as a counter; the stacks go to the per-minute window (bounded).
    for (const auto& e : on.entries) per_comm_[e.comm] += e.value;
    keep_recent(on, recent_);
    if (!off.entries.empty()) keep_recent(off, recent_off_);
    core::MetricFamily f{"sightline_profile_samples_total",
                         "On-CPU stack samples taken by the profiler, by thread name (at the "
                         "configured frequency on every CPU)",
                         core::MetricType::kCounter};
    for (const auto& [comm, n] : per_comm_) f.series.push_back({{{"comm", comm}}, double(n), {}});
    out.push_back(std::move(f));
    // A sample whose stack could not be kept is still counted, without that stack.
    core::MetricFamily lost{"sightline_profile_stacks_lost_total",
                            "Stacks of samples not kept: a collision in the kernel's stack map (it is "
                            "drained every second) or an id reused before it was read",
                            core::MetricType::kCounter};
    lost.series.push_back({{}, double(counts().stacks_lost), {}});
    out.push_back(std::move(lost));
    if (join_) {
      const RequestStackStats& j = join_->stats();
      core::MetricFamily req{"sightline_profile_request_stacks_total",
                             "Per-request stacks (a thread's stacks while it served a request): joined to slow or "
                             "failed requests (rows), their requests, stacks of requests not kept (unmatched: fast "
                             "ones), and rows past the bounds (dropped)",
                             core::MetricType::kCounter};
      req.series.push_back({{{"outcome", "rows"}}, double(j.rows), {}});
      req.series.push_back({{{"outcome", "requests"}}, double(j.requests), {}});
      req.series.push_back({{{"outcome", "unmatched"}}, double(j.unmatched), {}});
      req.series.push_back({{{"outcome", "dropped"}}, double(j.dropped), {}});
      out.push_back(std::move(req));
    }
    if (tables_) collect_unwind(out);
    core::MetricFamily cache{"sightline_symbol_cache_bytes",
                             "Heap the profiler's symbol caches hold: symbol tables of files, and their "
                             "DWARF open for inlined frames (each bounded by memory_limit's share)",
                             core::MetricType::kGauge};
    cache.series.push_back({{{"cache", "files"}}, double(sym_.files_bytes()), {}});
    cache.series.push_back({{{"cache", "dwarf"}}, double(sym_.dwarf_bytes()), {}});
    out.push_back(std::move(cache));
    core::MetricFamily refused{"sightline_symbol_dwarf_refused_total",
                               "Files whose DWARF alone is larger than its share of the budget: their "
                               "frames are named without inlined functions",
                               core::MetricType::kCounter};
    refused.series.push_back({{}, double(sym_.dwarf_refused()), {}});
    out.push_back(std::move(refused));
    core::MetricFamily files_refused{"sightline_symbol_files_refused_total",
                                     "Files whose symbol table alone is larger than its share of the budget: "
                                     "their frames are named file+0xoffset",
                                     core::MetricType::kCounter};
    files_refused.series.push_back({{}, double(sym_.files_refused()), {}});
    out.push_back(std::move(files_refused));
  }

  SourceStats stats() const override {
    SourceStats s = src_.stats();
    s.events = counts_.samples;
    s.lost_pairing = 0;  // stack-map collisions: sightline_profile_stacks_lost_total, not lost events
    return s;
  }
  std::vector<bpf::ProgramStats> program_stats() const override { return src_.program_stats(); }
  std::vector<bpf::MapMemory> map_memory() const override { return src_.map_memory(); }
  std::vector<std::string> release_memory(int level) override {
    std::vector<std::string> what;
    if (sym_.release_caches()) what.push_back("symbol_files");
    if (unwinder_.release_all()) what.push_back("dwarf_unwind");
    if (level >= 2) {
      std::lock_guard lock(recent_mu_);
      bool dropped = false;
      for (auto* r : {&recent_, &recent_off_})  // the newest two minutes stay: the store takes finished ones
        while (r->size() > 2) r->pop_front(), dropped = true;
      if (dropped) what.push_back("profile_windows");
    }
    return what;
  }

  void stop() override {
    tables_.reset();
    src_.stop();
  }

  void drain(profile::Profile* on, profile::Profile* off) override {
    on->offcpu = false;
    off->offcpu = true;
    on->period_ns = 1000000000ULL / hz_;
    uint64_t now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
    on->start_unix_ns = off->start_unix_ns = start_ns_;
    on->duration_ns = off->duration_ns = now - start_ns_;
    start_ns_ = now;
    if (!src_.skel()) return;
    int counts_fd = bpf_map__fd(src_.skel()->maps.prof_counts);
    int stacks_fd = bpf_map__fd(src_.skel()->maps.stacks);
    std::set<int32_t> stack_ids;
    std::set<uint64_t> uhashes;
    std::map<std::tuple<uint32_t, std::string, int32_t, int32_t, uint64_t>, uint64_t> merged[2];
    for (const auto& [k, v] : bpf::take_counts<sl_prof_key>(counts_fd)) {
      std::string comm(k.comm, strnlen(k.comm, sizeof k.comm));
      merged[k.offcpu ? 1 : 0][{k.tgid, comm, k.kstack, k.ustack, k.uhash}] += v;
      if (k.tgid) note_process(k.tgid);
    }
    for (int which = 0; which < 2; which++)
      for (const auto& [mk, v] : merged[which]) {
        const auto& [tgid, comm, kstack, ustack, uhash] = mk;
        std::vector<uint64_t> uips;
        if (!user_ips(ustack, uhash, &uips, &uhashes) && !which) counts_.stacks_lost += v;  // reused before we read it
        if (ustack >= 0) stack_ids.insert(ustack);
        if (kstack >= 0) stack_ids.insert(kstack);
        if (!which && ustack == SL_PROF_USTACK_TABLE) counts_.user_unwound += v;
        add_entry(which ? off : on, tgid, comm, kstack, uips, v, which == 1);
      }
    if (request_stacks_) drain_requests(stack_ids, uhashes);
    if (kernel_unwind_) {
      int ustacks_fd = bpf_map__fd(src_.skel()->maps.ustacks);
      // A stack the kernel finds in ustacks is not written again: one deleted right after this
      // drain read it would be lost to the samples counted meanwhile (a loop's one stack, every
      // second). So a stack goes once a whole drain passed without it; and every minute,
      // any entry no drain read (its count was not kept).
      for (uint64_t h : uhash_prev_)
        if (!uhashes.count(h)) bpf_map_delete_elem(ustacks_fd, &h);
      if (++drains_ % 60 == 0) {
        std::vector<uint64_t> stale;
        uint64_t key, next;
        for (int rc = bpf_map_get_next_key(ustacks_fd, nullptr, &next); rc == 0 && stale.size() < (1u << 20);
             rc = bpf_map_get_next_key(ustacks_fd, &key, &next)) {
          key = next;
          if (!uhashes.count(key)) stale.push_back(key);
        }
        for (uint64_t h : stale) bpf_map_delete_elem(ustacks_fd, &h);
      }
      uhash_prev_ = std::move(uhashes);
      tables_->sweep();
    }
    // Samples unwound from the ring (DWARF mode).
    consume();
    for (auto& [pk, v] : pending_) {
      const auto& [tgid, comm, kstack, uips] = pk;
      if (kstack >= 0) stack_ids.insert(kstack);
      add_entry(on, tgid, comm, kstack, uips, v, false);
    }
    pending_.clear();
    for (int32_t id : stack_ids) bpf_map_delete_elem(stacks_fd, &id);
    // Exited processes: keep their mappings only while they may still have samples queued.
    if (seen_.size() > symbols::Symbolizer::kMaxProcesses / 2) {
      for (auto it = seen_.begin(); it != seen_.end();)
        if (!process_alive(it->first))
          sym_.forget(it->first), unwinder_.forget(it->first), python_.forget(it->first), it = seen_.erase(it);
        else ++it;
    }
  }

  StackCounts counts() const override {
    StackCounts c = counts_;
    c.stacks_lost += src_.stats().lost_pairing;  // the kernel's count of stack-map collisions
    if (tables_) {
      UnwindTableCounts t = tables_->counts();
      c.unwind_rows = t.rows_used;
      c.unwind_files = t.files_kept;
      c.unwind_procs = t.procs;
    }
    return c;
  }

  std::string recent_folded(uint64_t seconds, bool off_cpu) const override {
    std::lock_guard lock(recent_mu_);
    const auto& recent = off_cpu ? recent_off_ : recent_;
    uint64_t now = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                             std::chrono::system_clock::now().time_since_epoch())
                                             .count());
    std::map<std::string, uint64_t> merged;
    for (const auto& m : recent)
      if (m.minute * 60 + 60 > now - std::min(now, seconds))
        for (const auto& [stack, n] : m.stacks) merged[stack] += n;
    std::string out;
    for (const auto& [stack, n] : merged) out += stack + " " + std::to_string(n) + "\n";
    return out;
  }

  std::vector<std::pair<uint64_t, std::string>> finished_minutes(uint64_t after) const override {
    uint64_t now_minute = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                                    std::chrono::system_clock::now().time_since_epoch())
                                                    .count()) / 60;
    std::lock_guard lock(recent_mu_);
    std::vector<std::pair<uint64_t, std::string>> out;
    for (const auto& m : recent_) {
      if (m.minute <= after || m.minute >= now_minute) continue;
      std::string text;
      for (const auto& [stack, n] : m.stacks) text += stack + " " + std::to_string(n) + "\n";
      out.emplace_back(m.minute, std::move(text));
    }
    return out;
  }

  EventSink* request_sink(uint64_t slow_ns) override {
    if (!request_stacks_) return nullptr;  // off, or a kernel before 6.4: no stacks to join
    join_ = std::make_unique<RequestStackJoin>(slow_ns);
    return join_.get();
  }
  std::vector<RequestStack> take_request_stacks() override { return std::exchange(joined_, {}); }

  // One record of the ring: a sample with its user stack, unwound now, while the process
  // and its mappings are there.
  bool on_sample(const void* data, size_t size) {
    // The unwinder asks for a process's tables (a perf buffer pads the record).
    if (size >= sizeof(sl_prof_ask) && size < sizeof(sl_prof_sample)) {
      const auto* a = static_cast<const sl_prof_ask*>(data);
      if (a->kind != SL_EV_PROFILE || !a->ask) return false;
      note_process(a->tgid);
      if (tables_) tables_->ask(a->tgid);  // served by its own thread: this one drains every ring
      return true;
    }
    if (size < sizeof(sl_prof_sample)) return false;
    const auto* s = static_cast<const sl_prof_sample*>(data);
    if (s->kind != SL_EV_PROFILE || s->stack_len > sizeof s->stack) return false;
    note_process(s->tgid);
    symbols::UserRegs regs{s->ip, s->sp, s->bp};
    std::vector<uint64_t> uips;
    unwinder_.unwind(s->tgid, s->tid, regs, s->stack_base, s->stack, s->stack_len, &uips);
    pending_[{s->tgid, std::string(s->comm, strnlen(s->comm, sizeof s->comm)), s->kstack, std::move(uips)}]++;
    return true;
  }

 private:
  // Symbolizes one stack (user program counters leaf first, a kernel stack id) into `p`.
  void add_entry(profile::Profile* p, uint32_t tgid, const std::string& comm, int32_t kstack,
                 const std::vector<uint64_t>& uips, uint64_t v, bool offcpu) {
    profile::Profile::Entry e = entry(tgid, comm, kstack, uips, v);
    if (!offcpu) {
      counts_.samples += v;
      if (!uips.empty()) {
        counts_.user_stacks += v;
        if (profile::complete_stack(e.frames)) counts_.user_complete += v;
      }
    } else {
      counts_.offcpu_ns += v;
    }
    p->entries.push_back(std::move(e));
  }

  // A user stack's program counters, leaf first (empty for an error id): from the stack map,
  // or (SL_PROF_USTACK_TABLE) the stacks the kernel unwound, whose hash goes into `uhashes`
  // (deleted after the drain). False when it is gone (reused before it was read).
  bool user_ips(int32_t ustack, uint64_t uhash, std::vector<uint64_t>* uips, std::set<uint64_t>* uhashes) const {
    if (ustack == SL_PROF_USTACK_TABLE) {
      sl_unw_stack s;
      if (bpf_map_lookup_elem(bpf_map__fd(src_.skel()->maps.ustacks), &uhash, &s) != 0) return false;
      uhashes->insert(uhash);
      for (uint32_t i = 0; i < s.n && i < SL_PROF_STACK_DEPTH; i++)  // a return address names its call
        uips->push_back(i == 0 || (s.ips[i] & SL_UNW_PY_FRAME) ? s.ips[i] : s.ips[i] - 1);
      return true;
    }
    if (ustack < 0) return true;  // -EEXIST (a collision in the stack map) is counted by the kernel
    std::vector<uint64_t> ips(SL_PROF_STACK_DEPTH);
    if (bpf_map_lookup_elem(bpf_map__fd(src_.skel()->maps.stacks), &ustack, ips.data()) != 0) return false;
    for (uint64_t ip : ips) {
      if (!ip) break;
      uips->push_back(uips->empty() ? ip : ip - 1);  // a return address names its call
    }
    return true;
  }

  // The unwinder's figures: its walk's counters (per CPU, summed) and the tables' bounds.
  void collect_unwind(std::vector<core::MetricFamily>& out) {
    std::vector<uint64_t> stat = bpf::sum_percpu_u64(src_.skel()->maps.unw_stats);
    stat.resize(SL_UNW_STAT_MAX);
    out.push_back(core::by_label("sightline_profile_unwind_frames_total",
                                 "User frames the profiler walked in the kernel: by an unwind table row (from "
                                 ".eh_frame), or by the frame pointer where a file has no table or no row",
                                 core::MetricType::kCounter, "method",
                                 {{"table", double(stat[SL_UNW_FRAMES_TABLE])}, {"frame_pointer", double(stat[SL_UNW_FRAMES_FP])}}));
    UnwindTableCounts c = tables_->counts();
    out.push_back(core::by_label("sightline_profile_unwind_files_total",
                                 "Files the unwinder took: tables built, files without one (no .eh_frame_hdr), "
                                 "without room in the rows, replaced on disk since mapped; tables evicted for room",
                                 core::MetricType::kCounter, "outcome",
                                 {{"built", double(c.files)}, {"no_table", double(c.no_table)}, {"no_room", double(c.no_room)},
                                  {"replaced", double(c.replaced)}, {"evicted", double(c.evicted)}}));
    out.push_back(core::by_label("sightline_profile_unwind_processes_total",
                                 "Processes whose mappings the unwinder loaded, and asks it did not serve: no room "
                                 "in the process map, past the loads per second (walked by frame pointers meanwhile), "
                                 "mappings past the per-process bound; CPython versions whose frames it cannot read",
                                 core::MetricType::kCounter, "outcome",
                                 {{"loaded", double(c.loads)}, {"full", double(c.procs_full)}, {"deferred", double(c.deferred)},
                                  {"maps_over", double(c.maps_over)}, {"python_unknown", double(c.python_unknown)}}));
    out.push_back(core::by_label("sightline_profile_unwind_rows",
                                 "Rows of unwind tables in the kernel (8 bytes each): in use, and the bound",
                                 core::MetricType::kGauge, "state",
                                 {{"used", double(c.rows_used)}, {"capacity", double(c.rows_capacity)}}));
    out.push_back(core::by_label("sightline_profile_unwind_python_processes",
                                 "Processes whose CPython frames the profiler reads now", core::MetricType::kGauge,
                                 "version", {{"3.11", double(c.python)}}));
  }

  // The per-request counts (sl_prof_req_key), symbolized while their stack ids are there.
  void drain_requests(std::set<int32_t>& stack_ids, std::set<uint64_t>& uhashes) {
    std::vector<RequestStack> got;
    for (const auto& [k, v] : bpf::take_counts<sl_prof_req_key>(bpf_map__fd(src_.skel()->maps.req_counts))) {
      if (!join_) continue;  // no one takes them (sightline profile)
      if (k.tgid) note_process(k.tgid);
      std::vector<uint64_t> uips;
      (void)user_ips(k.ustack, k.uhash, &uips, &uhashes);
      if (k.ustack >= 0) stack_ids.insert(k.ustack);
      if (k.kstack >= 0) stack_ids.insert(k.kstack);
      profile::Profile::Entry e = entry(k.tgid, std::string(k.comm, strnlen(k.comm, sizeof k.comm)), k.kstack, uips, v);
      got.push_back({k.tgid, k.tid, k.start, k.offcpu != 0, profile::folded_stack(e), v});
    }
    if (!join_) return;
    auto rows = join_->join(std::move(got), core::now_boot_ns());
    // Bounded: the store takes them every loop; a store that does not (none) leaves the newest.
    if (joined_.size() + rows.size() > kMaxJoined) joined_.clear();
    for (auto& r : rows) joined_.push_back(std::move(r));
  }

  // One stack symbolized: user frames from the outermost, then the kernel's.
  profile::Profile::Entry entry(uint32_t tgid, const std::string& comm, int32_t kstack,
                                const std::vector<uint64_t>& uips, uint64_t v) {
    profile::Profile::Entry e;
    e.pid = tgid;
    e.comm = comm;
    e.value = v;
    std::vector<symbols::Frame> kernel;
    std::vector<uint64_t> ips(SL_PROF_STACK_DEPTH);
    if (kstack >= 0 && bpf_map_lookup_elem(bpf_map__fd(src_.skel()->maps.stacks), &kstack, ips.data()) == 0)
      for (uint64_t ip : ips) {
        if (!ip) break;
        symbols::Frame f = sym_.kernel(ip);
        // The leaf frames of our own program and its dispatch are not the task's.
        if (kernel.empty() && (f.function.starts_with("bpf_prog_") || f.function.starts_with("bpf_trace_run") ||
                               f.function.starts_with("__bpf_trace_") || f.function.starts_with("bpf_get_stack") ||
                               f.function.starts_with("__traceiter_")))
          continue;
        kernel.push_back(f);
      }
    // Leaf first: native frames (each with the functions inlined there, innermost first), and
    // the CPython frames the kernel read, merged where the interpreter ran them.
    std::vector<symbols::Frame> native;
    std::vector<std::pair<symbols::Frame, bool>> python;
    std::optional<symbols::PythonLayout> layout;
    if (tables_) layout = tables_->python(tgid);
    for (uint64_t ip : uips) {
      if (ip & SL_UNW_PY_FRAME) {
        if (layout)
          python.emplace_back(python_.name(tgid, ip & SL_UNW_PY_CODE_MASK, (ip >> SL_UNW_PY_INDEX_SHIFT) & SL_UNW_PY_INDEX_MAX,
                                           *layout),
                              (ip & SL_UNW_PY_ENTRY) != 0);
        continue;
      }
      auto fs = sym_.user_frames(tgid, ip);
      for (auto it = fs.rbegin(); it != fs.rend(); ++it) native.push_back(std::move(*it));
    }
    if (!python.empty()) native = symbols::merge_python(native, python);
    // Root first: the user stack from its outermost frame, then the kernel's.
    for (auto it = native.rbegin(); it != native.rend(); ++it) e.frames.push_back(std::move(*it));
    for (auto it = kernel.rbegin(); it != kernel.rend(); ++it) e.frames.push_back(*it);
    return e;
  }

  static constexpr uint32_t kKernelStackDepth = 64;

  // The BPF half: a SkeletonSource for the skeleton's life cycle and the shared filters.
  class Bpf final : public SkeletonSource<profile_bpf, kFns, 4096> {
   public:
    std::string_view name() const override { return "profile"; }
    std::vector<Hook> plan(const bpf::Features& f, const SourceOptions& o) const override {
      return owner_->plan(f, o);
    }
    core::Status start_with(const SourceOptions& o, const bpf::Features& f, EventSink* sink,
                            const ProfileSourceImpl* owner) {
      owner_ = owner;
      // DWARF mode streams 8 KiB samples: a ring for about a second of 99 Hz on 32 CPUs.
      int reuse_err = 0;
      core::Status st = start_skeleton<profile_bpf>(skel_, kFns, o, f, sink, o.own_as<ProfileOptions>().dwarf_unwind ? 32u << 20 : 4096,
                                         [&](profile_bpf* s) {
                                           s->rodata->include_idle = false;
                                           // Stacks are read and deleted every second; a map
                                           // ~40x the second's samples keeps collisions (lost
                                           // stacks, counted) near 1% (each entry is 1 KiB of
                                           // kernel memory, preallocated).
                                           const auto& po = o.own_as<ProfileOptions>();
                                           // Two stack ids a sample (kernel, user); one where
                                           // user stacks are unwound into ustacks instead.
                                           uint64_t per_s = uint64_t(bpf::possible_cpus()) * po.hz * (owner->kernel_unwind_ ? 1 : 2);
                                           if (po.off_cpu) per_s *= 8;
                                           uint32_t n = 4096;
                                           while (n < per_s * 40 && n < SL_PROF_MAX_STACKS) n *= 2;
                                           bpf_map__set_max_entries(s->maps.stacks, n);
                                           bpf_map__set_max_entries(s->maps.prof_counts, std::min<uint32_t>(n, SL_PROF_MAX_KEYS));
                                           s->rodata->dwarf = o.own_as<ProfileOptions>().dwarf_unwind;
                                           // In-kernel unwinding: the tables' rows, processes and
                                           // unwound stacks; else the maps stay small.
                                           s->rodata->kernel_unwind = owner->kernel_unwind_;
                                           s->rodata->unw_min_age_ns = uint64_t{po.tables_min_age_ms} * 1000000;
                                           if (owner->kernel_unwind_) {
                                             // The stack map holds kernel stacks only: 64 frames
                                             // (deeper ones keep their leaf 64), half the memory.
                                             bpf_map__set_value_size(s->maps.stacks, kKernelStackDepth * sizeof(uint64_t));
                                             bpf_map__set_max_entries(s->maps.unw_rows, UnwindTables::kDefaultRows);
                                             bpf_map__set_max_entries(s->maps.unw_procs, UnwindTables::kMaxProcs);
                                             bpf_map__set_max_entries(s->maps.ustacks, n);
                                             // Entries allocated on use where the timer's program
                                             // may (6.1+): the memory follows the processes and
                                             // the second's stacks, not the bounds (2 and 8 MiB).
                                             if (f.htab_mem_alloc)
                                               for (bpf_map* m : {s->maps.unw_procs, s->maps.ustacks})
                                                 bpf_map__set_map_flags(m, bpf_map__map_flags(m) | BPF_F_NO_PREALLOC);
                                           } else {
                                             bpf_map__set_max_entries(s->maps.unw_asked, 1);
                                             bpf_map__set_max_entries(s->maps.ustacks, 1);
                                             bpf_map__set_max_entries(s->maps.unw_procs, 1);
                                             bpf_program__set_autoload(s->progs.sl_unw_exec, false);
                                             bpf_program__set_autoload(s->progs.sl_unw_exit, false);
                                           }
                                           // Per-request stacks read the sched source's task
                                           // storage (handed over); else the maps stay small.
                                           s->rodata->request_stacks = owner->request_stacks_;
                                           if (owner->request_stacks_) {
                                             reuse_err = bpf_map__reuse_fd(s->maps.sched_ts, o.thread_time_fd);
                                           } else {
                                             if (bpf_map__type(s->maps.sched_ts) != BPF_MAP_TYPE_TASK_STORAGE)
                                               bpf_map__set_max_entries(s->maps.sched_ts, 1);
                                             bpf_map__set_max_entries(s->maps.req_counts, 1);
                                           }
                                         });
      if (st && reuse_err) {
        stop();
        return bpf::libbpf_error(-reuse_err, "profile: taking the sched source's thread times");
      }
      return st;
    }
    profile_bpf* skel() const { return skel_; }
    void keep(bpf_link* l) { keep_link(l); }
    static std::string base(const bpf::Features& f) { return base_requirements(f); }
    static bool task_storage(const bpf::Features& f) { return has_task_storage(f); }
    ProfileSourceImpl* target_ = nullptr;

   protected:
    bool decode(const void* data, size_t size) override {
      return target_ && target_->on_sample(data, size);
    }

   private:
    const ProfileSourceImpl* owner_ = nullptr;
  };
  static std::string BpfSource_base(const bpf::Features& f) { return Bpf::base(f); }

  Bpf src_;
  uint32_t hz_ = 49;
  uint64_t start_ns_ = 0;
  symbols::Symbolizer sym_;
  // Processes whose mappings are taken, by the identity of their executable (dev:inode of
  // /proc/PID/exe): an exec changes it, and the mappings are taken again.
  // Checked at most once a second per process.
  struct Seen {
    uint64_t dev = 0, ino = 0;
    std::chrono::steady_clock::time_point checked;
  };
  std::map<uint32_t, Seen> seen_;
  void note_process(uint32_t tgid) {
    auto now = std::chrono::steady_clock::now();
    auto it = seen_.find(tgid);
    if (it != seen_.end() && now - it->second.checked < std::chrono::seconds(1)) return;
    struct stat st{};
    bool alive = stat(("/proc/" + std::to_string(tgid) + "/exe").c_str(), &st) == 0;
    bool known = it != seen_.end();
    if (known) {
      it->second.checked = now;
      if (!alive || (it->second.dev == st.st_dev && it->second.ino == st.st_ino)) return;  // same program, or gone
      unwinder_.forget(tgid);  // exec'd: another program
    }
    seen_[tgid] = Seen{st.st_dev, st.st_ino, now};
    sym_.remember(tgid);
  }
  StackCounts counts_;
  std::map<std::string, uint64_t> per_comm_;
  symbols::DwarfUnwinder unwinder_;
  symbols::PythonFrames python_;  // names of CPython frames (tables_ says which processes)

  // Continuous profile: whole minutes, newest last.
  struct Minute {
    uint64_t minute = 0;  // unix time / 60
    std::map<std::string, uint64_t> stacks;
    size_t bytes = 0;  // of the stacks' text
  };
  void keep_recent(const profile::Profile& on, std::deque<Minute>& recent_) {
    uint64_t minute = static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                                std::chrono::system_clock::now().time_since_epoch())
                                                .count()) / 60;
    std::lock_guard lock(recent_mu_);
    if (recent_.empty() || recent_.back().minute != minute) {
      recent_.push_back({minute, {}});
      while (recent_.size() > kRecentMinutes) recent_.pop_front();
    }
    auto& stacks = recent_.back().stacks;
    for (const auto& e : on.entries) {
      std::string key = profile::folded_stack(e);
      // Bounded by count and by bytes: complete stacks are long (30 frames, a kilobyte).
      if (!stacks.count(key)) {
        if (stacks.size() >= kStacksPerMinute || recent_.back().bytes + key.size() > kStackBytesPerMinute)
          key = e.comm + ";[more stacks than kept]";
        if (!stacks.count(key)) recent_.back().bytes += key.size() + 64;
      }
      stacks[key] += e.value;
    }
  }
  mutable std::mutex recent_mu_;
  std::deque<Minute> recent_, recent_off_;  // on-CPU samples; off-CPU ns (agent: sources.profile.off_cpu)
  std::map<std::tuple<uint32_t, std::string, int32_t, std::vector<uint64_t>>, uint64_t> pending_;
  // Per-request stacks (ProfileOptions::request_stacks, the sched source's map handed over).
  bool request_stacks_ = false;
  // User stacks unwound in the kernel with the tables of tables_ (ProfileOptions::kernel_unwind).
  bool kernel_unwind_ = false;
  std::unique_ptr<UnwindTables> tables_;
  std::set<uint64_t> uhash_prev_;  // the unwound stacks the last drain read
  uint64_t drains_ = 0;
  std::unique_ptr<RequestStackJoin> join_;
  static constexpr size_t kMaxJoined = 10000;
  std::vector<RequestStack> joined_;
};

}  // namespace

std::unique_ptr<Source> make_profile_source() { return std::make_unique<ProfileSourceImpl>(); }

constinit const SourceInfo kProfileSource = {
    "profile",
    "CPU profile: stack samples on every CPU (perf_event), off-CPU time by stack",
    {}, /*streams=*/true, /*has_failed=*/false,
    &make_options<ProfileOptions>, &make_profile_source};

}  // namespace sightline::sources
