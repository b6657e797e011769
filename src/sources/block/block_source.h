// block source: I/O latency and size histograms per device and operation, queue time, errors,
// and I/Os and bytes per process, aggregated in the kernel.
#pragma once
#include <memory>

#include "sources/source.h"

namespace sightline::sources {
struct BlockOptions : Options<BlockOptions> {
  // Where no kinds are named (the agent): each I/O as a block_io event (per I/O, so off: the
  // histograms and per-process counts are always kept). `trace block_io` asks.
  bool io_events = false;
  // The page cache's hits, misses and dirtied pages (cachestat): a kprobe run on every page
  // access, so off. `trace cachestat` asks.
  bool page_cache = false;
  void visit(OptionVisitor& v) override {
    v.flag("io_events", io_events,
           "each block I/O as a block_io event (biosnoop); per I/O, so off: the histograms are always there");
    v.flag("page_cache", page_cache,
           "page-cache hits, misses and dirtied pages (cachestat) as metrics and a cachestat event each second; "
           "a probe on every page access, so off; hits need kprobes");
  }
};

std::unique_ptr<Source> make_block_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kBlockSource;
}
