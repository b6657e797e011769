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
  void visit(OptionVisitor& v) override {
    v.flag("stats", stats, "stat events (stat, lstat, newfstatat, statx, statfs: statsnoop); frequent, so off");
  }
};

std::unique_ptr<Source> make_file_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kFileSource;
}
