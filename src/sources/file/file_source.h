// file source: opens (open, openat, openat2, creat) with path, flags, mode and result; stat-family
// calls (statsnoop) when asked.
#pragma once
#include <memory>

#include "sources/source.h"

namespace sightline::sources {
struct FileOptions : Options<FileOptions> {
  // Where no kinds are named (the agent): the stat kind too. stat calls come in storms (ls, find,
  // a build): off; `trace stat` asks for them.
  bool stats = false;
  // slow_io events (fsslower): two programs on every read, write and sync of the node, so off;
  // `trace slow_io` asks. The threshold: 0 sends every call on a regular file.
  bool slow_io = false;
  uint32_t slow_io_ms = 10;
  // file_lifetime events (filelife) on ext4: a program per file created and per unlink; off.
  bool lifetimes = false;
  void visit(OptionVisitor& v) override {
    v.flag("lifetimes", lifetimes, "file_lifetime events (filelife): files created and deleted while the agent runs (ext4)");
    v.flag("stats", stats, "stat events (stat, lstat, newfstatat, statx, statfs: statsnoop); frequent, so off");
    v.flag("slow_io", slow_io,
           "slow_io events (fsslower): reads, writes and syncs of files over slow_io_ms; a hook on every read and "
           "write, so off");
    v.number("slow_io_ms", slow_io_ms, 0, 3600000, "what is slow for slow_io (ms; 0: every call)");
  }
};

std::unique_ptr<Source> make_file_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kFileSource;
}
