// ELF images into the unwind-table builder (.eh_frame_hdr parsed here, the CFI by libdw, the
// rules reduced): an error or a bounded, sorted table; never a crash. The same bytes as a
// CPython location table (python_line), a Go build info section and x86-64 code (go_tls.h:
// RET offsets inside the code).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <algorithm>
#include <string>

#include "sources/l7/go_tls.h"
#include "symbols/python_frames.h"
#include "symbols/unwind_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string copy(reinterpret_cast<const char*>(data), size);  // libelf may keep pointers into it
  sightline::symbols::UnwindTable t;
  if (sightline::symbols::build_unwind_table_mem(copy.data(), copy.size(), &t)) {
    if (t.rows.size() > sightline::symbols::kMaxUnwindRows) abort();
    for (size_t i = 1; i < t.rows.size(); i++)
      if (t.rows[i - 1].pc > t.rows[i].pc) abort();
  }
  for (uint32_t index : {0u, 7u, static_cast<uint32_t>(size)})
    (void)sightline::symbols::python_line(std::string_view(copy.data(), std::min<size_t>(size, 4096)), 1, index);
  (void)sightline::sources::go_buildinfo_version(copy);
  for (uint64_t at : sightline::sources::x86_returns(std::string_view(copy.data(), std::min<size_t>(size, 65536))))
    if (at >= size || static_cast<uint8_t>(copy[at]) == 0) abort();
  return 0;
}
