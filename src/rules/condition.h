// Falco-style conditions over the schema's fields: parsed once into a tree whose field
// references are resolved per event kind, evaluated per event without allocation in the
// common case. Grammar (case-sensitive keywords):
//   expr    := and ("or" and)*          and := not ("and" not)*
//   not     := "not" not | "(" expr ")" | cond | MACRO
//   cond    := FIELD OP VALUE | FIELD "exists" | FIELD ("in"|"intersects"|"pmatch") LIST
//   OP      := = == != < <= > >= contains icontains startswith endswith glob
//   VALUE   := 'str' | "str" | word | number        LIST := "(" VALUE ("," VALUE)* ")" | LISTNAME
// Fields beyond the schema (derived, listed by `sightline schema`): proc.cmdline, proc.aname /
// proc.aname[N] (ancestors), fd.directory, fd.filename, user.name, and those Falco's rules use
// (fd.abspath, fd.typechar, evt.res, proc.pcmdline, thread.cap_effective, container.image ...).
// Falco's dialect (rule files that declare required_engine_version): evt.type takes syscall
// names (execve, openat, connect ...), mapped onto event kinds and syscall.name; fd.name is the
// resolved path (fd.nameraw the one passed), proc.args the arguments without argv[0], and
// container.id is "host" outside containers.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/event.h"
#include "core/status.h"
#include "rules/proc_facts.h"

namespace sightline::rules {

// What a condition may ask beyond the event: ancestors and user names.
struct Context {
  // Name of the Nth ancestor (1: parent) of process `pid`, or empty.
  std::function<std::string(uint32_t pid, int n)> ancestor;
  // Name of the event's user (user.uid) as its process sees it, or empty.
  std::function<std::string(const core::Event& e)> user_name;
  // What the process table holds of `pid` (false: nothing): for the parent's fields.
  struct Process {
    uint32_t ppid = 0;
    uint64_t start_boot_ns = 0;
    std::string comm, exe, args;  // args NUL-separated
  };
  std::function<bool(uint32_t pid, Process* out)> process;
  // Facts read from /proc when a rule asks (rules/proc_facts.h); empty: unknown.
  std::function<std::string(uint32_t pid, ProcFile what, int arg)> proc_file;
  // What the container runtime recorded of a container (by short id).
  std::function<ContainerMeta(std::string_view container_id)> container;
  // The event's number in the rule engine's stream (1, 2, ...): Falco's evt.num.
  std::function<uint64_t()> event_num;
};

// How a condition's text is read: Sightline's own field and event names, or Falco's.
struct ParseOptions {
  bool falco = false;
  // The macros whose text is Falco's (they are expanded in that dialect wherever used).
  const std::set<std::string>* falco_macros = nullptr;
};

struct Node;

// One part of a condition that is a conjunction (Condition::conjunction): a field compared with
// values, the comparison `not`ed or not; `or` of comparisons on the same field gives one term
// with several alternatives.
struct Term {
  std::string field;
  bool negated = false;
  struct Alt {
    std::string op;  // as written: = != in startswith pmatch contains ...
    std::vector<std::string> values;
  };
  std::vector<Alt> alts;
  size_t column = 0;  // 1-based, in the text parsed; 0 inside a macro
  std::string macro;  // the macro it came from, if any
};

class Condition {
 public:
  Condition();
  ~Condition();
  Condition(Condition&&) noexcept;
  Condition& operator=(Condition&&) noexcept;

  // `macros` maps a name to its condition text (expanded in place, cycles refused); `lists`
  // maps a name to its items. Errors give the offset in `text` (column) and a suggestion for
  // an unknown field.
  static core::Status parse(std::string_view text, const std::map<std::string, std::string>& macros,
                            const std::map<std::string, std::vector<std::string>>& lists, Condition* out,
                            const ParseOptions& opts = {});
  bool matches(const core::Event& e, const Context& ctx) const;
  // The event kinds this condition can match (from evt.type tests and the fields it reads).
  const std::set<core::EventKind>& kinds() const { return kinds_; }
  // The values `field` must equal for the condition to hold (from = and in under and/or), or
  // false when any value may do. For telling the kernel which syscalls a rule set needs.
  bool required_values(std::string_view field, std::set<std::string>* out) const;
  // The condition as `t1 and t2 and not t3 ...` (evt.type tests included as terms); false, with
  // what is in the way in *why (and its column in *column, 0 if unknown), when it is not one.
  bool conjunction(std::vector<Term>* out, std::string* why, size_t* column) const;

 private:
  std::unique_ptr<Node> root_;
  std::set<core::EventKind> kinds_;
};

// A field's value as text (for outputs "%proc.name"); empty if the kind lacks it. False when
// `name` is no field at all.
bool field_text(std::string_view name, const core::Event& e, const Context& ctx, std::string* out);
// "10.0.0.0/8", "fd00::/8", "1.2.3.4" as 16 bytes (IPv4 mapped into ::ffff:0:0/96) and a prefix
// length in those 128 bits; false when the text is no address or network.
bool parse_network16(std::string_view text, unsigned char addr[16], int* prefix);
// Walks an output template ("%proc.name opened %fd.name"): its literal text, and each %field
// (the name, and the reference as written).
void walk_output(std::string_view tmpl, const std::function<void(std::string_view text)>& text,
                 const std::function<void(std::string_view name, std::string_view raw)>& field);
// Falco's name of a field -> ours, in Falco's dialect ("fd.name" -> "fd.abspath"); the name
// itself when it is the same.
std::string_view falco_field(std::string_view name);
// An output template of a Falco rule with its fields renamed so (falco_field), and the fields
// no event here has (proc.sname, container.start_ts ...) as <NA>.
std::string falco_output(std::string_view tmpl);
// The fields rules compute beyond the schema: name, what it is, and the kinds that have it
// (a schema field's name whose kinds they are; empty: every kind).
struct DerivedField {
  std::string_view name, doc, kinds_field;
};
std::vector<DerivedField> derived_fields();
// Every field name a condition or output may use (schema + derived).
std::vector<std::string> all_field_names();
// The nearest known field name to `name` (for "did you mean").
std::string nearest_field(std::string_view name);

}  // namespace sightline::rules
