// Turning schema values into text: JSON (one object per event, keys are schema names) and the
// human renderings used by `trace` tables. Appends to caller-owned buffers: no allocation per
// event once the buffer has grown.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "core/event.h"
#include "core/schema.h"

namespace sightline::core {

void append_json_string(std::string& out, std::string_view s);
void append_value_json(std::string& out, const Value& v);
// Human text: times as local HH:MM:SS.mmm, flags by name, argv shell-quoted.
void append_value_text(std::string& out, const Value& v);
// {"evt.time":"...","evt.type":"open",...}: every common field, then the kind's fields.
void append_event_json(std::string& out, const Event& e);

std::string_view errno_name(int err);  // "ENOENT"; "E<n>" spelled into a static buffer if unknown
void append_open_flags(std::string& out, uint64_t flags);
void append_rfc3339(std::string& out, uint64_t wall_ns);
void append_duration(std::string& out, uint64_t ns);  // 1.5ms, 2.003s, 3m12s
// Shell-quotes one argument when it needs it (spaces, quotes, empty).
void append_shell_quoted(std::string& out, std::string_view arg);

}  // namespace sightline::core
