// Rule files and conditions from untrusted text: an error or a rule set, never a crash.
#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

#include "rules/ruleset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  sightline::rules::Condition c;
  for (bool falco : {false, true}) {  // our dialect, and Falco's (syscall names, aliases)
    std::set<std::string> falco_macros = {"m"};
    if (sightline::rules::Condition::parse(text, {{"m", "proc.name = x"}}, {{"l", {"a", "\"b\"", "l2"}}, {"l2", {"l"}}},
                                           &c, {falco, &falco_macros})) {
      sightline::core::Event e;
      e.comm = "x";
      e.path = "../a/./b";
      (void)c.matches(e, {});
    }
  }
  sightline::rules::RuleSet rs;
  if (rs.add(text, "fuzz")) (void)rs.compile();
  return 0;
}
