#include "rules/default_rules.h"

namespace sightline::rules {

const char* default_rules_yaml() {
  return
#include "default_rules.inc"
      ;
}

}  // namespace sightline::rules
