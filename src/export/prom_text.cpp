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

bool wants_openmetrics(std::string_view accept) {
  // Prometheus: "application/openmetrics-text;version=1.0.0,application/openmetrics-text;
  // version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1". Anything naming
  // openmetrics-text without q=0 is taken as a preference; the q values are not compared.
  size_t at = accept.find("application/openmetrics-text");
  if (at == std::string_view::npos) return false;
  std::string_view rest = accept.substr(at);
  rest = rest.substr(0, rest.find(','));
  return rest.find("q=0,") == std::string_view::npos && !rest.ends_with("q=0") &&
         !rest.ends_with("q=0.0");
}

void PromWriter::family(std::string_view name, std::string_view type, std::string_view help) {
  if (openmetrics_ && type == "counter" && name.ends_with("_total")) name.remove_suffix(6);
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  for (char c : help) {
    if (c == '\n')
      out_ += ' ';
    else if (openmetrics_ && (c == '\\' || c == '"'))
      out_ += '\\', out_ += c;
    else
      out_ += c;
  }
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

namespace {
void append_labels(std::string& out, const core::Labels& labels, const char* le) {
  if (labels.empty() && !le) return;
  out += '{';
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    append_label_value(out, v);
    out += '"';
  }
  if (le) {
    if (!first) out += ',';
    out += "le=\"";
    out += le;
    out += '"';
  }
  out += '}';
}

// The sample's value and its line's end; `open` non-zero leaves the line open (for an exemplar).
void append_number(std::string& out, double v, size_t open = 0) {
  char buf[40];
  if (v == static_cast<double>(static_cast<int64_t>(v)) && std::fabs(v) < 1e15)
    snprintf(buf, sizeof buf, " %lld", static_cast<long long>(v));
  else
    snprintf(buf, sizeof buf, " %.9g", v);
  out += buf;
  if (!open) out += '\n';
}

// OpenMetrics: " # {labels} value timestamp" for the newest exemplar in [lower, upper), then the
// line's end.
void append_exemplar(std::string& out, const std::vector<core::Exemplar>& ex, uint64_t lower, uint64_t upper,
                     double scale) {
  const core::Exemplar* best = nullptr;
  for (const auto& e : ex)
    if (e.value >= lower && e.value < upper && (!best || e.wall_ns > best->wall_ns)) best = &e;
  if (best) {
    out += " # ";
    append_labels(out, best->labels, nullptr);
    if (best->labels.empty()) out += "{}";
    char buf[64];
    snprintf(buf, sizeof buf, " %.9g %.3f", static_cast<double>(best->value) * scale,
             static_cast<double>(best->wall_ns) * 1e-9);
    out += buf;
  }
  if (!ex.empty()) out += '\n';
}
}  // namespace

void PromWriter::write(const core::MetricFamily& f) {
  const char* type = f.type == core::MetricType::kCounter ? "counter"
                     : f.type == core::MetricType::kGauge ? "gauge"
                                                          : "histogram";
  family(f.name, type, f.help);
  for (const auto& s : f.series) {
    if (f.type != core::MetricType::kHistogram) {
      out_ += f.name;
      append_labels(out_, s.labels, nullptr);
      append_number(out_, s.value);
      continue;
    }
    char le[32];
    uint64_t lower = 0;
    for (uint64_t b : f.bounds) {
      snprintf(le, sizeof le, "%.9g", static_cast<double>(b) * f.scale);
      out_ += f.name;
      out_ += "_bucket";
      append_labels(out_, s.labels, le);
      append_number(out_, static_cast<double>(s.hist.count_below(b)), openmetrics_ ? s.exemplars.size() : 0);
      if (openmetrics_) append_exemplar(out_, s.exemplars, lower, b, f.scale);
      lower = b;
    }
    uint64_t count = s.hist.count();
    out_ += f.name;
    out_ += "_bucket";
    append_labels(out_, s.labels, "+Inf");
    append_number(out_, static_cast<double>(count), openmetrics_ ? s.exemplars.size() : 0);
    if (openmetrics_) append_exemplar(out_, s.exemplars, lower, UINT64_MAX, f.scale);
    out_ += f.name;
    out_ += "_sum";
    append_labels(out_, s.labels, nullptr);
    append_number(out_, static_cast<double>(s.hist.sum()) * f.scale);
    out_ += f.name;
    out_ += "_count";
    append_labels(out_, s.labels, nullptr);
    append_number(out_, static_cast<double>(count));
  }
}

void for_each_sample(const core::MetricFamily& f,
                     const std::function<void(std::string_view, const core::Labels&, double)>& fn) {
  if (f.type != core::MetricType::kHistogram) {
    for (const auto& s : f.series) fn(f.name, s.labels, s.value);
    return;
  }
  std::string bucket = f.name + "_bucket", sum = f.name + "_sum", count = f.name + "_count";
  for (const auto& s : f.series) {
    core::Labels l = s.labels;
    l.emplace_back("le", "");
    char le[32];
    for (uint64_t b : f.bounds) {
      snprintf(le, sizeof le, "%.9g", static_cast<double>(b) * f.scale);
      l.back().second = le;
      fn(bucket, l, static_cast<double>(s.hist.count_below(b)));
    }
    l.back().second = "+Inf";
    fn(bucket, l, static_cast<double>(s.hist.count()));
    fn(sum, s.labels, static_cast<double>(s.hist.sum()) * f.scale);
    fn(count, s.labels, static_cast<double>(s.hist.count()));
  }
}

}  // namespace sightline::exporter
