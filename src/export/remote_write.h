// Prometheus remote-write 1.0: the agent's metric families as a WriteRequest (protobuf,
// snappy block-compressed), one sample per series at the collection time, with the node's
// external labels. Sent through a Delivery (retry, spool).
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/metrics.h"
#include "export/delivery.h"

namespace sightline::exporter {

// The WriteRequest's bytes, before compression. Labels of each series: __name__, the series'
// own and `external` (the series' own win), sorted by name as the protocol requires.
std::string encode_write_request(const std::vector<core::MetricFamily>& families, const core::Labels& external,
                                 int64_t timestamp_ms, uint64_t* samples);
std::string snappy_compress(const std::string& raw);
bool snappy_uncompress(const std::string& compressed, std::string* raw);

// Batches for one remote-write endpoint (url: http://host:port/api/v1/write).
Batch remote_write_batch(const std::vector<core::MetricFamily>& families, const core::Labels& external,
                         int64_t timestamp_ms);

}  // namespace sightline::exporter
