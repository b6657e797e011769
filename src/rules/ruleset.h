// Rule files in the spirit of Falco's: YAML lists of `list`, `macro` and `rule` items. Later
// files override earlier ones (same name replaces; `append: true` extends a list's items, a
// macro's or a rule's condition; a rule item with only `rule` and `enabled` toggles it).
// Conditions compile once; rules are indexed by the event kinds they can match.
#pragma once

#include <array>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "rules/condition.h"

namespace sightline::rules {

enum class Priority { kEmergency, kAlert, kCritical, kError, kWarning, kNotice, kInfo, kDebug };
std::string_view priority_name(Priority p);

// What a rule does when it matches: alert (every rule), or act in the kernel at the hook
// (rules/enforce.h compiles the rules that can).
enum class Action { kAlert, kKill, kDeny };
std::string_view action_name(Action a);

struct Rule {
  std::string name, desc, output, origin;  // origin: file:line
  Priority priority = Priority::kWarning;
  std::vector<std::string> tags;
  bool enabled = true;
  std::string condition_text;  // with exceptions folded in as "and not (...)"
  Condition condition;
  Action action = Action::kAlert;
  std::string action_origin;  // file:line:col of `action`
  bool falco = false;         // from a Falco rules file: its condition is read in Falco's dialect
  bool skip_if_unknown = false;  // Falco's skip-if-unknown-filter: an unknown field disables it
};

class RuleSet {
 public:
  // Adds one file's items (`origin` names it in errors). Compile() afterwards.
  core::Status add(std::string_view yaml, const std::string& origin);
  core::Status add_file(const std::string& path);
  // Compiles every enabled rule's condition with the macros and lists as they stand.
  core::Status compile();

  // The enabled rules that match `e`, in file order. Rules with an action other than alert are
  // left out: the kernel evaluates them (rules/enforce.h) and their alerts come from it.
  void match(const core::Event& e, const Context& ctx, std::vector<const Rule*>* out) const;
  const std::vector<Rule>& rules() const { return rules_; }
  size_t enabled_count() const;
  // The enabled rules with an action, in file order: bit i of the kernel's plan is the i-th.
  std::vector<const Rule*> acting() const;
  // A condition outside any rule (`trace -f`), with these files' macros and lists.
  core::Status parse_condition(std::string_view text, Condition* out) const;
  // Every event kind some enabled rule can match: the sources the kernel must run.
  std::vector<core::EventKind> kinds() const;
  // The values `field` must equal (= or in) for some enabled alert rule to hold, across the
  // rules that constrain it so (rules/condition.h required_values). For the kernel's filters:
  // the L7 methods whose requests must all reach the rules.
  std::set<std::string> required_values(std::string_view field) const;
  // The syscall names the enabled rules on `syscall` events need (empty: none); nullopt when
  // some rule may match any syscall.
  std::optional<std::vector<std::string>> syscalls() const;
  // What loading decided that a user should know (Falco engine and plugin versions, rules of
  // other sources left out, macros of one file redefined by another): "file:line: text".
  const std::vector<std::string>& notes() const { return notes_; }
  // The enabled rules from Falco rules files.
  size_t falco_count() const;

 private:
  struct MacroDef {
    std::string condition, origin;
    bool falco = false;
  };
  std::vector<std::string> notes_;
  std::map<std::string, std::vector<std::string>> lists_;
  std::map<std::string, MacroDef> macros_;
  std::vector<Rule> rules_;
  std::array<std::vector<size_t>, static_cast<size_t>(core::EventKind::kCount)> by_kind_;
};

// The built-in rules (unless !with_defaults), then each file in order, compiled.
core::Status load_rules(const std::vector<std::string>& files, bool with_defaults, RuleSet* out);

// "%proc.name opened %fd.name" -> the event's values (unknown fields stay as written).
std::string render_output(std::string_view tmpl, const core::Event& e, const Context& ctx);

}  // namespace sightline::rules
