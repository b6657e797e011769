// L7 parsers and the connection tracker on arbitrary bytes: never a crash, never unbounded.
// Input: byte 0 picks the protocol (low bits), a stream (0x80), memcached's port (0x40); then chunks of [side/gap byte][length byte][bytes].
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "protocols/hpack.h"
#include "protocols/protocol.h"
#include "protocols/routes.h"
#include "sightline/l7_infer.h"

using namespace sightline::protocols;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  auto proto = static_cast<Protocol>(1 + (data[0] & 0x0f) % (kProtocols - 1));  // seeds: the protocol less one
  bool stream = data[0] & 0x80;
  auto parser = make_parser(proto, stream);
  std::vector<Record> out;
  size_t pos = 1;
  uint64_t ts = 0;
  while (parser && pos + 2 <= size) {
    uint8_t ctl = data[pos], len = data[pos + 1];
    pos += 2;
    size_t n = std::min<size_t>(len, size - pos);
    Side side = ctl & 1 ? Side::kServer : Side::kClient;
    if (ctl & 2) parser->gap(side, len * (ctl >> 2), ++ts, &out);
    else parser->feed(side, std::string_view(reinterpret_cast<const char*>(data + pos), n), ++ts, &out);
    pos += n;
    if (out.size() > 4096) out.clear();
    // What the tracker's byte bound counts stays bounded: two buffers a side at most (one being
    // filled past kMaxBuffered), the pending requests, the prepared statements.
    if (parser->memory() > 4 * kMaxBuffered + (kMaxPending + 1) * 2048 + Statements<int>::kMax * 4096)
      __builtin_trap();
  }
  if (parser) parser->close(++ts, &out);
  uint8_t peek[SL_L7_PEEK] = {};
  for (size_t i = 0; i < SL_L7_PEEK && i + 1 < size; i++) peek[i] = data[i + 1];
  int kind;
  (void)sl_l7_infer(peek, static_cast<uint32_t>(size - 1), static_cast<uint8_t>(data[0] % (SL_L7_AMQP + 1)), &kind);  // any port hint
  // Route clustering over the input's lines as paths, in a small bound: never past it.
  static RouteClusters routes(/*max_nodes=*/2000, /*max_values=*/4);
  std::string_view all(reinterpret_cast<const char*>(data), size);
  for (size_t p = 0; p < all.size();) {
    size_t nl = std::min(all.find('\n', p), all.size());
    (void)routes.route(all.substr(p, std::min<size_t>(nl - p, 3)), normalize_path(all.substr(p, nl - p)));
    if (routes.nodes() > 2000) __builtin_trap();
    p = nl + 1;
  }
  (void)normalize_path(all);
  // HPACK alone: a block of the input's bytes, twice through one decoder (its table bounded).
  hpack::Decoder hd;
  std::vector<hpack::Header> hs;
  for (int i = 0; i < 2; i++) (void)hd.decode(all, &hs);
  if (hd.memory() > 4 * hpack::kMaxTable + hpack::kMaxTable / 32 * sizeof(hpack::Header)) __builtin_trap();
  std::string text;
  (void)hpack::huffman_decode(all, &text);
  (void)normalize_sql(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
