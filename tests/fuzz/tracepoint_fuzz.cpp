// Tracepoint format text, then a filter and a record derived from the same bytes: never a crash.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tracepoint/format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  size_t split = text.find("\n--\n");
  std::string_view fmt_text = text.substr(0, split);
  sightline::tracepoint::Format fmt;
  if (!sightline::tracepoint::parse_format(fmt_text, &fmt)) return 0;
  std::string_view filter = split == std::string_view::npos ? "" : text.substr(split + 4);
  sightline::tracepoint::Filter f;
  if (!filter.empty() && sightline::tracepoint::Filter::parse(filter, fmt, &f)) (void)f.matches(data, size);
  sightline::tracepoint::Value v;
  for (const auto& field : fmt.fields) (void)sightline::tracepoint::field_value(field, data, size, &v);
  return 0;
}
