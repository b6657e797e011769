#include "export/remote_write.h"

#include <snappy-c.h>

#include <algorithm>

#include "export/prom_text.h"
#include "export/protobuf.h"

namespace sightline::exporter {

std::string encode_write_request(const std::vector<core::MetricFamily>& families, const core::Labels& external,
                                 int64_t timestamp_ms, uint64_t* samples) {
  pb::Writer req, ts, label, sample;
  uint64_t n = 0;
  std::vector<std::pair<std::string_view, std::string_view>> labels;
  for (const auto& f : families)
    for_each_sample(f, [&](std::string_view name, const core::Labels& own, double v) {
      labels.clear();
      labels.emplace_back("__name__", name);
      for (const auto& [k, val] : own) labels.emplace_back(k, val);
      for (const auto& [k, val] : external) {
        bool has = false;
        for (const auto& [ok, ov] : own) has |= ok == k;
        if (!has) labels.emplace_back(k, val);
      }
      std::sort(labels.begin(), labels.end());
      ts.clear();
      for (const auto& [k, val] : labels) {
        if (val.empty()) continue;  // an empty label is no label
        label.clear();
        label.bytes(1, k);
        label.bytes(2, val);
        ts.message(1, label);
      }
      sample.clear();
      sample.dbl(1, v);
      sample.sint64(2, timestamp_ms);
      ts.message(2, sample);
      req.message(1, ts);
      n++;
    });
  if (samples) *samples = n;
  return req.take();
}

std::string snappy_compress(const std::string& raw) {
  size_t len = snappy_max_compressed_length(raw.size());
  std::string out(len, '\0');
  if (::snappy_compress(raw.data(), raw.size(), out.data(), &len) != SNAPPY_OK) return {};
  out.resize(len);
  return out;
}

bool snappy_uncompress(const std::string& compressed, std::string* raw) {
  size_t len = 0;
  if (::snappy_uncompressed_length(compressed.data(), compressed.size(), &len) != SNAPPY_OK || len > (256u << 20))
    return false;
  raw->resize(len);
  return ::snappy_uncompress(compressed.data(), compressed.size(), raw->data(), &len) == SNAPPY_OK;
}

Batch remote_write_batch(const std::vector<core::MetricFamily>& families, const core::Labels& external,
                         int64_t timestamp_ms) {
  Batch b;
  b.target = "";
  b.content_type = "application/x-protobuf";
  b.headers = {{"Content-Encoding", "snappy"}, {"X-Prometheus-Remote-Write-Version", "0.1.0"},
               {"User-Agent", "sightline/" SIGHTLINE_VERSION}};
  b.body = snappy_compress(encode_write_request(families, external, timestamp_ms, &b.items));
  return b;
}

}  // namespace sightline::exporter
