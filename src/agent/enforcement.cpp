#include "agent/enforcement.h"

#include "rules/enforce.h"
#include "sources/enforce/enforce_source.h"

namespace sightline::agent {

namespace {
std::string summarize(const rules::EnforcePlan& p) {
  std::string s;
  for (const auto& a : p.rules) s += "  " + a.rule->name + ": " + a.summary + "\n";
  return s;
}
}  // namespace

std::string lsm_note(const bpf::Features& f) {
  for (const auto& x : f.list)
    if (x.name == "bpf_lsm") return x.detail;
  return "no BPF LSM";
}

core::Status Enforcement::start(Runner& runner, const rules::RuleSet& rs, bool enforce,
                                std::string* summary) {
  rules::EnforcePlan plan;
  const auto& f = runner.features();
  if (auto st = rules::compile_enforcement(rs, enforce, f.bpf_lsm, lsm_note(f), &plan); !st) return st;
  if (summary) *summary = summarize(plan);
  if (plan.rules.empty()) return {};
  bpf_lsm_ = f.bpf_lsm;
  lsm_note_ = lsm_note(f);
  auto src = sources::make_enforce_source();
  sources::EnforceSource* raw = src.get();
  if (auto st = runner.start(std::move(src), {}); !st) return st;
  source_ = raw;
  generation_ = 1;
  return source_->set_plan(plan, generation_);
}

core::Status Enforcement::reload(const rules::RuleSet& rs, bool enforce, std::string* summary) {
  rules::EnforcePlan plan;
  if (auto st = rules::compile_enforcement(rs, enforce, bpf_lsm_, lsm_note_, &plan); !st) return st;
  if (summary) *summary = summarize(plan);
  if (!source_) {
    if (plan.rules.empty()) return {};
    return core::Status::error(
        EPERM,
        "rules with an action were added by a reload, but none acted when the agent "
        "started: the enforcement programs are not loaded (restart the agent)");
  }
  return source_->set_plan(plan, ++generation_);
}

}  // namespace sightline::agent
