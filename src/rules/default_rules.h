// The default rule set (rules/default.yaml), embedded at build time.
#pragma once

namespace sightline::rules {
const char* default_rules_yaml();
}
