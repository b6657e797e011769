// Rule files and conditions from untrusted text: an error or a rule set, never a crash.
#include <cstddef>
#include <cstdint>
#include <string>

#include "rules/ruleset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  sightline::rules::Condition c;
  if (sightline::rules::Condition::parse(text, {{"m", "proc.name = x"}}, {{"l", {"a", "b"}}}, &c)) {
    sightline::core::Event e;
    e.comm = "x";
    (void)c.matches(e, {});
  }
  sightline::rules::RuleSet rs;
  if (rs.add(text, "fuzz")) (void)rs.compile();
  return 0;
}
