#include "export/prom_text.h"

#include <cmath>
#include <cstdio>

namespace sightline::exporter {

void append_label_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

void PromWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  for (char c : help) out_ += c == '\n' ? ' ' : c;
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PromWriter::sample(std::string_view name, std::initializer_list<Label> labels, double value) {
  out_ += name;
  if (labels.size()) {
    out_ += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first) out_ += ',';
      first = false;
      out_ += k;
      out_ += "=\"";
      append_label_value(out_, v);
      out_ += '"';
    }
    out_ += '}';
  }
  char buf[40];
  if (std::isnan(value))
    snprintf(buf, sizeof buf, " NaN\n");
  else if (value == std::floor(value) && std::fabs(value) < 1e15)
    snprintf(buf, sizeof buf, " %.0f\n", value);
  else
    snprintf(buf, sizeof buf, " %.9g\n", value);
  out_ += buf;
}

}  // namespace sightline::exporter
