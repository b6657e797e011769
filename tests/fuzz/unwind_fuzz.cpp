// ELF images into the unwind-table builder (.eh_frame_hdr parsed here, the CFI by libdw, the
// rules reduced): an error or a bounded, sorted table; never a crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>

#include "symbols/unwind_table.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string copy(reinterpret_cast<const char*>(data), size);  // libelf may keep pointers into it
  sightline::symbols::UnwindTable t;
  if (sightline::symbols::build_unwind_table_mem(copy.data(), copy.size(), &t)) {
    if (t.rows.size() > sightline::symbols::kMaxUnwindRows) abort();
    for (size_t i = 1; i < t.rows.size(); i++)
      if (t.rows[i - 1].pc > t.rows[i].pc) abort();
  }
  return 0;
}
