// An alert as the rule engine hands it to what keeps or forwards alerts (the store, the log
// exporters): owned strings, ready to write.
#pragma once

#include <cstdint>
#include <string>

namespace sightline::core {

struct Alert {
  uint64_t time_ns = 0;  // the matching event's wall-clock time
  std::string rule, priority, output;
  std::string tags_json, ancestry_json;  // JSON arrays
  std::string kind;                      // evt.type of the event
  uint32_t pid = 0;
  std::string proc_name, container_id;
  std::string event_json;  // the event, schema names as keys
  std::string json;        // the whole alert, as the webhook and json_file outputs carry it
};

}  // namespace sightline::core
