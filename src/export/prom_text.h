// Prometheus text exposition (format 0.0.4): families with HELP and TYPE, escaped labels.
#pragma once

#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "core/metrics.h"

namespace sightline::exporter {

using Label = std::pair<std::string_view, std::string_view>;

class PromWriter {
 public:
  // Starts a family; every sample() until the next family() belongs to it.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, std::initializer_list<Label> labels, double value);
  void sample(std::string_view name, double value) { sample(name, {}, value); }
  // A whole family: counters and gauges as samples, histograms as _bucket/_sum/_count.
  void write(const core::MetricFamily& f);
  const std::string& text() const { return out_; }

 private:
  std::string out_;
};

// Escapes a label value (backslash, double quote, newline).
void append_label_value(std::string& out, std::string_view v);

}  // namespace sightline::exporter
