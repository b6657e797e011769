// What an aggregator reads from the network: OTLP/HTTP request bodies from agents, and
// ClickHouse's answers to the queries it passes on (TabSeparatedWithNamesAndTypes, error
// bodies). Any bytes give a result or an error, never a crash, a hang or unbounded memory.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "aggregator/clickhouse_query.h"
#include "aggregator/otlp_decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view body(reinterpret_cast<const char*>(data), size);
  sightline::aggregator::DecodeStats st;
  std::vector<sightline::aggregator::Point> points;
  (void)sightline::aggregator::decode_metrics(body, &points, &st);
  std::vector<sightline::aggregator::EventRow> rows;
  (void)sightline::aggregator::decode_logs(body, &rows, &st);
  (void)sightline::aggregator::decode_traces(body, &st);
  sightline::store::QueryResult r;
  (void)sightline::aggregator::parse_clickhouse_tsv(body, 100, &r);
  int code;
  (void)sightline::aggregator::clickhouse_error_reason(body, &code);
  return 0;
}
