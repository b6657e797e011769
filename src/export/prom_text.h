// Prometheus text exposition (format 0.0.4), or OpenMetrics 1.0 text when the scraper asks for
// it: families with HELP and TYPE, escaped labels.
#pragma once

#include <functional>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "core/metrics.h"

namespace sightline::exporter {

using Label = std::pair<std::string_view, std::string_view>;

class PromWriter {
 public:
  // OpenMetrics: a counter family is named without its _total suffix, and the text ends with
  // "# EOF" (finish()).
  explicit PromWriter(bool openmetrics = false) : openmetrics_(openmetrics) {}
  // Starts a family; every sample() until the next family() belongs to it.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, std::initializer_list<Label> labels, double value);
  void sample(std::string_view name, double value) { sample(name, {}, value); }
  // A whole family: counters and gauges as samples, histograms as _bucket/_sum/_count.
  void write(const core::MetricFamily& f);
  // The exposition, terminated as its format requires.
  const std::string& finish() {
    if (openmetrics_) out_ += "# EOF\n";
    return out_;
  }
  const std::string& text() const { return out_; }
  const char* content_type() const {
    return openmetrics_ ? "application/openmetrics-text; version=1.0.0; charset=utf-8"
                        : "text/plain; version=0.0.4; charset=utf-8";
  }

 private:
  bool openmetrics_;
  std::string out_;
};

// Every sample of a family as Prometheus names it: counters and gauges as themselves,
// histograms as NAME_bucket{...,le="..."} (cumulative, +Inf last), NAME_sum and NAME_count.
// What the text writer prints, for the exporters and the store.
void for_each_sample(const core::MetricFamily& f,
                     const std::function<void(std::string_view name, const core::Labels& labels, double value)>& fn);

// Escapes a label value (backslash, double quote, newline).
void append_label_value(std::string& out, std::string_view v);
// True when an Accept header prefers OpenMetrics text (what Prometheus sends by default).
bool wants_openmetrics(std::string_view accept);

}  // namespace sightline::exporter
