// file source: opens (open, openat, openat2, creat) with path, flags, mode and result.
#pragma once
#include <memory>

#include "sources/source.h"

namespace sightline::sources {
std::unique_ptr<Source> make_file_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kFileSource;
}
