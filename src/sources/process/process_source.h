// process source: exec (argv, result), fork, exit (code, signal, lifetime).
#pragma once
#include <memory>

#include "sources/source.h"

namespace sightline::sources {
std::unique_ptr<Source> make_process_source();
// Its registry entry (sources/registry.cpp lists it).
extern const SourceInfo kProcessSource;
}
