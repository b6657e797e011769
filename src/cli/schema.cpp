// `sightline schema`: every event kind and field, from the one schema table.
#include <cstdio>
#include <string>

#include "cli/commands.h"
#include "core/render.h"
#include "core/schema.h"
#include "rules/condition.h"

namespace sightline::cli {
namespace {

std::string_view type_name(core::FieldType t) {
  switch (t) {
    case core::FieldType::kInt: return "int";
    case core::FieldType::kUint: return "uint";
    case core::FieldType::kString: return "string";
    case core::FieldType::kBool: return "bool";
    case core::FieldType::kTime: return "time";
    case core::FieldType::kDuration: return "duration";
    case core::FieldType::kArgv: return "string list";
    case core::FieldType::kOpenFlags: return "open flags";
    case core::FieldType::kErrno: return "errno";
    case core::FieldType::kOctal: return "mode";
  }
  return "";
}

// {"k":"v",...} from string members.
void append_object(std::string& out, std::initializer_list<std::pair<std::string_view, std::string_view>> members) {
  out += '{';
  bool first = true;
  for (const auto& [k, v] : members) {
    if (!first) out += ',';
    first = false;
    core::append_json_string(out, k);
    out += ':';
    core::append_json_string(out, v);
  }
  out += '}';
}

}  // namespace

int schema(bool json) {
  if (!json) {
    auto print = [](const core::FieldDef& f) {
      printf("  %-22s %-11s %.*s\n", std::string(f.name).c_str(), std::string(type_name(f.type)).c_str(),
             static_cast<int>(f.doc.size()), f.doc.data());
    };
    printf("Fields of every event:\n");
    for (const auto& f : core::common_fields()) print(f);
    for (const auto& k : core::kinds()) {
      printf("\n%.*s (source %.*s): %.*s\n", static_cast<int>(k.name.size()), k.name.data(),
             static_cast<int>(k.source.size()), k.source.data(), static_cast<int>(k.doc.size()), k.doc.data());
      for (const auto& f : k.fields) print(f);
    }
    printf("\nDerived fields (rules, trace -f): computed when a condition asks; those marked with a field\n"
           "exist on the kinds that have it; the ones from /proc are unknown once the process is gone.\n"
           "In Falco rules files fd.name is fd.abspath, fd.nameraw fd.name, proc.args proc.cmdargs.\n");
    for (const auto& d : rules::derived_fields())
      printf("  %-26s %.*s%s%.*s%s\n", std::string(d.name).c_str(), static_cast<int>(d.doc.size()), d.doc.data(),
             d.kinds_field.empty() ? "" : " [with ", static_cast<int>(d.kinds_field.size()), d.kinds_field.data(),
             d.kinds_field.empty() ? "" : "]");
    return 0;
  }
  std::string out = "{\"common_fields\":[";
  auto fields = [&](std::span<const core::FieldDef> list) {
    for (size_t i = 0; i < list.size(); i++) {
      if (i) out += ',';
      append_object(out, {{"name", list[i].name}, {"type", type_name(list[i].type)},
                          {"unit", list[i].unit}, {"doc", list[i].doc}});
    }
  };
  fields(core::common_fields());
  out += "],\"kinds\":[";
  for (size_t i = 0; i < core::kinds().size(); i++) {
    const auto& k = core::kinds()[i];
    if (i) out += ',';
    append_object(out, {{"name", k.name}, {"source", k.source}, {"doc", k.doc}});
    out.pop_back();  // reopen the object for its field list
    out += ",\"fields\":[";
    fields(k.fields);
    out += "]}";
  }
  out += "],\"derived_fields\":[";
  bool first = true;
  for (const auto& d : rules::derived_fields()) {
    if (!first) out += ',';
    first = false;
    append_object(out, {{"name", d.name}, {"doc", d.doc}, {"with_field", d.kinds_field}});
  }
  out += "]}\n";
  fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace sightline::cli
