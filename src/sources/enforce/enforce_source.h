// enforcement (bpf/enforce.bpf.c, sightline/enforce.h): the programs that act for rules with an
// action, at the exit of open and at exec. Not a source users pick: the agent and `rules run`
// start it when the rules have acting ones, and give it the compiled plan (rules/enforce.h).
#pragma once
#include <memory>

#include "rules/enforce.h"
#include "sources/bpf_source.h"

struct enforce_bpf;

namespace sightline::sources {

class EnforceSource final : public BpfSource {
 public:
  ~EnforceSource() override;
  std::string_view name() const override { return "enforce"; }
  std::vector<Hook> plan(const bpf::Features& f, const SourceOptions& o) const override;
  core::Status start(const SourceOptions& o, const bpf::Features& f, EventSink* sink) override;
  void stop() override;
  // Writes the plan into the maps (the programs act on the new rules from the next hook on;
  // during the writes they act on none). Records then carry `generation`.
  core::Status set_plan(const rules::EnforcePlan& plan, uint32_t generation);

 protected:
  bool decode(const void* data, size_t size) override;

 private:
  enforce_bpf* skel_ = nullptr;
};

std::unique_ptr<EnforceSource> make_enforce_source();

}  // namespace sightline::sources
