#include "rules/ruleset.h"

#include <yaml-cpp/yaml.h>

#include "core/files.h"
#include "rules/default_rules.h"

#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

namespace sightline::rules {

namespace {

std::string where(const std::string& origin, const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  return m.line >= 0 ? origin + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1) : origin;
}

core::Status scalar(const YAML::Node& item, const char* key, const std::string& origin, std::string* out,
                    bool required = false) {
  YAML::Node n = item[key];
  if (!n) {
    if (required) return core::Status::error(EINVAL, where(origin, item) + ": '" + key + "' is required");
    return {};
  }
  if (!n.IsScalar()) return core::Status::error(EINVAL, where(origin, n) + ": '" + key + "' must be a string");
  *out = n.Scalar();
  return {};
}

core::Status strings(const YAML::Node& item, const char* key, const std::string& origin,
                     std::vector<std::string>* out) {
  YAML::Node n = item[key];
  if (!n) return {};
  if (!n.IsSequence()) return core::Status::error(EINVAL, where(origin, n) + ": '" + key + "' must be a list");
  for (const auto& v : n) {
    if (!v.IsScalar()) return core::Status::error(EINVAL, where(origin, v) + ": items of '" + key + "' are strings");
    out->push_back(v.Scalar());
  }
  return {};
}

core::Status action(const YAML::Node& item, const std::string& origin, Rule* r) {
  YAML::Node n = item["action"];
  if (!n) return {};
  std::string a = n.IsScalar() ? n.Scalar() : "";
  if (a == "alert") r->action = Action::kAlert;
  else if (a == "kill") r->action = Action::kKill;
  else if (a == "deny") r->action = Action::kDeny;
  else return core::Status::error(EINVAL, where(origin, n) + ": action '" + a + "' (alert, kill or deny)");
  r->action_origin = where(origin, n);
  return {};
}

core::Status boolean(const YAML::Node& item, const char* key, const std::string& origin, bool* out) {
  YAML::Node n = item[key];
  if (!n) return {};
  try {
    *out = n.as<bool>();
  } catch (const YAML::Exception&) {
    return core::Status::error(EINVAL, where(origin, n) + ": '" + key + "' must be true or false");
  }
  return {};
}

core::Status unknown_keys(const YAML::Node& item, const std::string& origin, const std::set<std::string>& allowed) {
  for (const auto& kv : item) {
    std::string k = kv.first.IsScalar() ? kv.first.Scalar() : "?";
    if (!allowed.count(k)) {
      std::string list;
      for (const auto& a : allowed) list += (list.empty() ? "" : ", ") + a;
      return core::Status::error(EINVAL, where(origin, kv.first) + ": unknown key '" + k + "' (expected one of: " + list + ")");
    }
  }
  return {};
}

bool parse_priority(std::string p, Priority* out) {
  for (auto& c : p) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static const std::pair<const char*, Priority> names[] = {
      {"emergency", Priority::kEmergency}, {"alert", Priority::kAlert},     {"critical", Priority::kCritical},
      {"error", Priority::kError},         {"warning", Priority::kWarning}, {"notice", Priority::kNotice},
      {"informational", Priority::kInfo},  {"info", Priority::kInfo},       {"debug", Priority::kDebug}};
  for (const auto& [n, v] : names)
    if (p == n) return *out = v, true;
  return false;
}

// exceptions: [{name, fields: [a, b], comps: [=, in], values: [[x, [y, z]], ...]}] ->
// "not ((a = x and b in (y, z)) or ...)"
core::Status exceptions(const YAML::Node& item, const std::string& origin, std::string* out) {
  YAML::Node ex = item["exceptions"];
  if (!ex) return {};
  if (!ex.IsSequence()) return core::Status::error(EINVAL, where(origin, ex) + ": 'exceptions' must be a list");
  auto quote = [](const std::string& v) { return "'" + v + "'"; };
  for (const auto& e : ex) {
    if (auto st = unknown_keys(e, origin, {"name", "fields", "comps", "values"}); !st) return st;
    std::vector<std::string> fields, comps;
    YAML::Node f = e["fields"];
    if (f && f.IsScalar()) fields.push_back(f.Scalar());
    else if (auto st = strings(e, "fields", origin, &fields); !st) return st;
    YAML::Node c = e["comps"];
    if (c && c.IsScalar()) comps.push_back(c.Scalar());
    else if (auto st = strings(e, "comps", origin, &comps); !st) return st;
    if (fields.empty()) return core::Status::error(EINVAL, where(origin, e) + ": an exception needs 'fields'");
    if (comps.empty()) comps.assign(fields.size(), "=");
    if (comps.size() != fields.size())
      return core::Status::error(EINVAL, where(origin, e) + ": 'comps' must have one operator per field");
    YAML::Node vals = e["values"];
    if (!vals) continue;
    if (!vals.IsSequence()) return core::Status::error(EINVAL, where(origin, vals) + ": 'values' must be a list");
    std::string alts;
    for (const auto& tuple : vals) {
      std::vector<YAML::Node> parts;
      if (fields.size() == 1 && !tuple.IsSequence()) parts.push_back(tuple);
      else if (tuple.IsSequence()) for (const auto& p : tuple) parts.push_back(p);
      if (parts.size() != fields.size())
        return core::Status::error(EINVAL, where(origin, tuple) + ": each value needs " + std::to_string(fields.size()) + " parts");
      std::string conj;
      for (size_t i = 0; i < fields.size(); i++) {
        std::string rhs;
        if (parts[i].IsSequence()) {
          for (const auto& v : parts[i]) rhs += (rhs.empty() ? "" : ", ") + quote(v.Scalar());
          rhs = "(" + rhs + ")";
        } else {
          rhs = comps[i] == "in" || comps[i] == "pmatch" ? "(" + quote(parts[i].Scalar()) + ")" : quote(parts[i].Scalar());
        }
        conj += (conj.empty() ? "" : " and ") + fields[i] + " " + comps[i] + " " + rhs;
      }
      alts += (alts.empty() ? "" : " or ") + ("(" + conj + ")");
    }
    if (!alts.empty()) *out += " and not (" + alts + ")";
  }
  return {};
}

}  // namespace

std::string_view priority_name(Priority p) {
  static const char* const n[] = {"Emergency", "Alert", "Critical", "Error", "Warning", "Notice", "Informational", "Debug"};
  return n[static_cast<int>(p)];
}

core::Status RuleSet::add_file(const std::string& path) {
  int err = 0;
  std::string text = core::read_file(path, 16u << 20, &err);
  if (err) return core::Status::error(err, path + ": cannot read: " + strerror(err));
  return add(text, path);
}

core::Status RuleSet::add(std::string_view yaml, const std::string& origin) {
  YAML::Node root;
  try {
    root = YAML::Load(std::string(yaml));
  } catch (const YAML::ParserException& e) {
    return core::Status::error(EINVAL, origin + ":" + std::to_string(e.mark.line + 1) + ":" +
                                           std::to_string(e.mark.column + 1) + ": YAML syntax: " + e.msg);
  }
  if (root.IsNull()) return {};
  if (!root.IsSequence())
    return core::Status::error(EINVAL, where(origin, root) + ": a rules file is a list of list, macro and rule items");
  // A Falco rules file declares the engine it needs: its conditions are Falco's dialect.
  bool falco = false;
  for (const auto& item : root)
    if (item.IsMap() && item["required_engine_version"]) falco = true;
  try {
    for (const auto& item : root) {
      if (!item.IsMap()) return core::Status::error(EINVAL, where(origin, item) + ": each item is a mapping");
      if (YAML::Node v = item["required_engine_version"]) {
        if (auto st = unknown_keys(item, origin, {"required_engine_version"}); !st) return st;
        notes_.push_back(where(origin, item) + ": Falco engine version " + (v.IsScalar() ? v.Scalar() : "?") +
                         " required: the file's conditions are read in Falco's dialect (syscall names, fields)");
        continue;
      }
      if (YAML::Node pv = item["required_plugin_versions"]) {
        if (auto st = unknown_keys(item, origin, {"required_plugin_versions"}); !st) return st;
        if (!pv.IsSequence()) return core::Status::error(EINVAL, where(origin, pv) + ": 'required_plugin_versions' must be a list");
        for (const auto& p : pv) {
          std::string name = p.IsMap() && p["name"] && p["name"].IsScalar() ? p["name"].Scalar() : "?";
          notes_.push_back(where(origin, p) + ": plugin '" + name + "': " +
                           (name == "container" ? "its fields (container.*, k8s.*) are Sightline's own"
                                                : "not provided; rules of its source are left out"));
        }
        continue;
      }
      bool append = false;
      if (auto st = boolean(item, "append", origin, &append); !st) return st;
      if (YAML::Node ov = item["override"]; ov && ov.IsMap() && (item["list"] || item["macro"])) {
        // Falco 0.37's form for lists and macros: override: {items|condition: append|replace}.
        for (const auto& kv : ov) {
          std::string how = kv.second.IsScalar() ? kv.second.Scalar() : "";
          if (how != "append" && how != "replace")
            return core::Status::error(EINVAL, where(origin, kv.second) + ": override: 'append' or 'replace'");
          append = how == "append";
        }
      }
      if (item["list"]) {
        if (auto st = unknown_keys(item, origin, {"list", "items", "append", "override"}); !st) return st;
        std::string name;
        std::vector<std::string> items;
        if (auto st = scalar(item, "list", origin, &name); !st) return st;
        if (auto st = strings(item, "items", origin, &items); !st) return st;
        auto& l = lists_[name];
        if (!append) l.clear();
        l.insert(l.end(), items.begin(), items.end());
      } else if (item["macro"]) {
        if (auto st = unknown_keys(item, origin, {"macro", "condition", "append", "override"}); !st) return st;
        std::string name, cond;
        if (auto st = scalar(item, "macro", origin, &name); !st) return st;
        if (auto st = scalar(item, "condition", origin, &cond, true); !st) return st;
        auto it = macros_.find(name);
        if (append) {
          if (it == macros_.end())
            return core::Status::error(EINVAL, where(origin, item) + ": append to macro '" + name + "', which is not defined");
          it->second.condition = "(" + it->second.condition + ") " + cond;
        } else {
          if (it != macros_.end() && it->second.falco != falco)
            notes_.push_back(where(origin, item) + ": macro '" + name + "' replaces the one of " + it->second.origin +
                             " for every rule that uses it");
          macros_[name] = {cond, where(origin, item["condition"]), falco};
        }
      } else if (item["rule"]) {
        if (auto st = unknown_keys(item, origin, {"rule", "desc", "condition", "output", "priority", "tags", "enabled",
                                                  "exceptions", "append", "source", "override", "action",
                                                  "warn_evttypes", "skip-if-unknown-filter", "capture",
                                                  "capture_duration"});
            !st)
          return st;
        std::string name;
        if (auto st = scalar(item, "rule", origin, &name); !st) return st;
        auto existing = std::find_if(rules_.begin(), rules_.end(), [&](const Rule& r) { return r.name == name; });
        bool only_enabled = item.size() == 2 && item["enabled"];
        if (YAML::Node ov = item["override"]) {
          // Falco 0.37's form: per key, append to or replace the earlier definition.
          if (existing == rules_.end())
            return core::Status::error(EINVAL, where(origin, item) + ": override of rule '" + name + "', which is not defined");
          if (!ov.IsMap()) return core::Status::error(EINVAL, where(origin, ov) + ": 'override' maps keys to append or replace");
          for (const auto& kv : ov) {
            std::string key = kv.first.Scalar(), how = kv.second.IsScalar() ? kv.second.Scalar() : "";
            bool app = how == "append";
            if (how != "append" && how != "replace")
              return core::Status::error(EINVAL, where(origin, kv.second) + ": override." + key + ": 'append' or 'replace'");
            if (!item[key])
              return core::Status::error(EINVAL, where(origin, kv.first) + ": override." + key + " with no '" + key + "' in the item");
            if (key == "condition") {
              std::string cond;
              if (auto st = scalar(item, "condition", origin, &cond); !st) return st;
              existing->condition_text = app ? "(" + existing->condition_text + ") " + cond : cond;
            } else if (key == "exceptions") {
              std::string exc;
              if (auto st = exceptions(item, origin, &exc); !st) return st;
              if (!app) return core::Status::error(EINVAL, where(origin, kv.second) + ": exceptions can only be appended");
              existing->condition_text = "(" + existing->condition_text + ")" + exc;
            } else if (key == "output" || key == "desc") {
              std::string v;
              if (auto st = scalar(item, key.c_str(), origin, &v); !st) return st;
              std::string& field = key == "output" ? existing->output : existing->desc;
              field = app ? field + " " + v : v;
            } else if (key == "priority" && !app) {
              std::string prio;
              if (auto st = scalar(item, "priority", origin, &prio); !st) return st;
              if (!parse_priority(prio, &existing->priority))
                return core::Status::error(EINVAL, where(origin, item["priority"]) + ": priority '" + prio + "'");
            } else if (key == "enabled" && !app) {
              if (auto st = boolean(item, "enabled", origin, &existing->enabled); !st) return st;
            } else if (key == "action" && !app) {
              if (auto st = action(item, origin, &*existing); !st) return st;
            } else if (key == "tags") {
              std::vector<std::string> tags;
              if (auto st = strings(item, "tags", origin, &tags); !st) return st;
              if (!app) existing->tags.clear();
              existing->tags.insert(existing->tags.end(), tags.begin(), tags.end());
            } else {
              return core::Status::error(EINVAL, where(origin, kv.first) + ": override." + key + ": cannot " + how);
            }
          }
          continue;
        }
        if (only_enabled || append) {
          if (existing == rules_.end())
            return core::Status::error(EINVAL, where(origin, item) + ": rule '" + name + "' is not defined (yet)");
          if (auto st = boolean(item, "enabled", origin, &existing->enabled); !st) return st;
          std::string cond, exc;
          if (auto st = scalar(item, "condition", origin, &cond); !st) return st;
          if (auto st = exceptions(item, origin, &exc); !st) return st;
          if (!cond.empty()) existing->condition_text = "(" + existing->condition_text + ") " + cond;
          if (!exc.empty()) existing->condition_text = "(" + existing->condition_text + ")" + exc;
          continue;
        }
        if (YAML::Node src = item["source"]; src && src.IsScalar() && src.Scalar() != "syscall") {
          notes_.push_back(where(origin, item) + ": rule '" + name + "' left out: its source '" + src.Scalar() +
                           "' (a Falco plugin's events) is not one Sightline has");
          continue;
        }
        Rule r;
        r.name = name;
        r.origin = where(origin, item);
        r.falco = falco;
        if (auto st = boolean(item, "skip-if-unknown-filter", origin, &r.skip_if_unknown); !st) return st;
        std::string prio = "warning";
        if (auto st = scalar(item, "desc", origin, &r.desc); !st) return st;
        if (auto st = scalar(item, "condition", origin, &r.condition_text, true); !st) return st;
        if (auto st = scalar(item, "output", origin, &r.output, true); !st) return st;
        if (falco) r.output = falco_output(r.output);
        if (auto st = scalar(item, "priority", origin, &prio); !st) return st;
        if (!parse_priority(prio, &r.priority))
          return core::Status::error(EINVAL, where(origin, item["priority"]) + ": priority '" + prio +
                                                 "' (emergency, alert, critical, error, warning, notice, informational, debug)");
        if (auto st = strings(item, "tags", origin, &r.tags); !st) return st;
        if (auto st = boolean(item, "enabled", origin, &r.enabled); !st) return st;
        if (auto st = action(item, origin, &r); !st) return st;
        std::string exc;
        if (auto st = exceptions(item, origin, &exc); !st) return st;
        if (!exc.empty()) r.condition_text = "(" + r.condition_text + ")" + exc;
        // Where the condition starts, for errors in it.
        r.origin = where(origin, item["condition"]);
        if (existing != rules_.end()) *existing = std::move(r);
        else rules_.push_back(std::move(r));
      } else {
        return core::Status::error(EINVAL, where(origin, item) + ": an item is a 'list', a 'macro' or a 'rule'");
      }
    }
  } catch (const YAML::Exception& e) {
    return core::Status::error(EINVAL, origin + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return {};
}

core::Status RuleSet::compile() {
  std::map<std::string, std::string> macros;
  std::set<std::string> falco_macros;
  for (const auto& [n, m] : macros_) {
    macros[n] = m.condition;
    if (m.falco) falco_macros.insert(n);
  }
  for (auto& k : by_kind_) k.clear();
  for (size_t i = 0; i < rules_.size(); i++) {
    Rule& r = rules_[i];
    if (!r.enabled) continue;
    ParseOptions opts{r.falco, &falco_macros};
    if (auto st = Condition::parse(r.condition_text, macros, lists_, &r.condition, opts); !st) {
      if (r.skip_if_unknown && st.message().find("unknown field") != std::string::npos) {
        notes_.push_back(r.origin + ": rule '" + r.name + "' disabled (skip-if-unknown-filter): " + st.message());
        r.enabled = false;
        continue;
      }
      return core::Status::error(EINVAL, r.origin + ": rule '" + r.name + "': condition: " + st.message());
    }
    if (r.condition.kinds().empty())
      return core::Status::error(EINVAL, r.origin + ": rule '" + r.name + "' can match no event type "
                                                                          "(fields of different event types joined by and?)");
    if (r.action != Action::kAlert) continue;  // the kernel evaluates it
    for (auto k : r.condition.kinds()) by_kind_[static_cast<size_t>(k)].push_back(i);
  }
  // Macros no rule uses are still checked: a typo in one is an error now, not later.
  for (const auto& [n, m] : macros_) {
    Condition c;
    if (auto st = Condition::parse(m.condition, macros, lists_, &c, ParseOptions{m.falco, &falco_macros}); !st)
      return core::Status::error(EINVAL, m.origin + ": macro '" + n + "': " + st.message());
  }
  return {};
}

core::Status RuleSet::parse_condition(std::string_view text, Condition* out) const {
  std::map<std::string, std::string> macros;
  std::set<std::string> falco_macros;
  for (const auto& [n, m] : macros_) {
    macros[n] = m.condition;
    if (m.falco) falco_macros.insert(n);
  }
  return Condition::parse(text, macros, lists_, out, ParseOptions{false, &falco_macros});
}

size_t RuleSet::falco_count() const {
  size_t n = 0;
  for (const auto& r : rules_) n += r.enabled && r.falco;
  return n;
}

void RuleSet::match(const core::Event& e, const Context& ctx, std::vector<const Rule*>* out) const {
  out->clear();
  for (size_t i : by_kind_[static_cast<size_t>(e.kind)])
    if (rules_[i].condition.matches(e, ctx)) out->push_back(&rules_[i]);
}

std::set<std::string> RuleSet::required_values(std::string_view field) const {
  std::set<std::string> out;
  for (const auto& r : rules_)
    if (r.enabled && r.action == Action::kAlert) r.condition.required_values(field, &out);
  return out;
}

std::vector<const Rule*> RuleSet::acting() const {
  std::vector<const Rule*> out;
  for (const auto& r : rules_)
    if (r.enabled && r.action != Action::kAlert) out.push_back(&r);
  return out;
}

std::string_view action_name(Action a) {
  switch (a) {
    case Action::kAlert: return "alert";
    case Action::kKill: return "kill";
    case Action::kDeny: return "deny";
  }
  return "?";
}

size_t RuleSet::enabled_count() const {
  size_t n = 0;
  for (const auto& r : rules_) n += r.enabled;
  return n;
}

std::vector<core::EventKind> RuleSet::kinds() const {
  std::vector<core::EventKind> out;
  for (size_t k = 0; k < by_kind_.size(); k++)
    if (!by_kind_[k].empty()) out.push_back(static_cast<core::EventKind>(k));
  return out;
}

core::Status load_rules(const std::vector<std::string>& files, bool with_defaults, RuleSet* rs) {
  if (with_defaults)
    if (auto st = rs->add(default_rules_yaml(), "<built-in rules>"); !st) return st;
  for (const auto& f : files)
    if (auto st = rs->add_file(f); !st) return st;
  return rs->compile();
}

std::optional<std::vector<std::string>> RuleSet::syscalls() const {
  std::set<std::string> names;
  for (size_t i : by_kind_[static_cast<size_t>(core::EventKind::kSyscall)]) {
    std::set<std::string> v;
    if (!rules_[i].condition.required_values("syscall.name", &v)) return std::nullopt;
    names.insert(v.begin(), v.end());
  }
  return std::vector<std::string>(names.begin(), names.end());
}

std::string render_output(std::string_view t, const core::Event& e, const Context& ctx) {
  std::string out, value;
  walk_output(
      t, [&](std::string_view text) { out += text; },
      [&](std::string_view name, std::string_view raw) {
        if (!name.empty() && field_text(name, e, ctx, &value)) out += value.empty() ? "<NA>" : value;
        else out += raw;
      });
  return out;
}

}  // namespace sightline::rules
