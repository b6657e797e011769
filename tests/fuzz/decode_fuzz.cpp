// libFuzzer target: kernel records are input too. Bytes -> both decoders -> JSON and text.
#include <cstdint>
#include <cstring>
#include <string>

#include "core/render.h"
#include "core/schema.h"
#include "sightline/packets.h"
#include "sources/decode.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 8192) return 0;
  alignas(8) static uint8_t buf[8192];  // the ring buffer hands out 8-byte aligned records
  memcpy(buf, data, size);
  static std::string out;
  auto drop = [](const void* d, size_t n, sightline::core::Event& e) {
    uint32_t reason;
    uint64_t location;
    return sightline::sources::decode_drop_record(d, n, e, &reason, &location);
  };
  // A flow table entry (key, value) as user space reads it: any bytes.
  auto flow = [](const void* d, size_t n, sightline::core::Event& e) {
    if (n < sizeof(sl_flow_key) + sizeof(sl_flow_val)) return false;
    sl_flow_key k;
    sl_flow_val v;
    memcpy(&k, d, sizeof k);
    memcpy(&v, static_cast<const uint8_t*>(d) + sizeof k, sizeof v);
    sightline::sources::decode_flow(k, v, 1, e);
    e.flow_state = "new";
    return true;
  };
  auto block_io = [](const void* d, size_t n, sightline::core::Event& e) {
    uint32_t dev, op;
    return sightline::sources::decode_block_io_record(d, n, e, &dev, &op);
  };
  for (bool (*decode)(const void*, size_t, sightline::core::Event&) :
       {&sightline::sources::decode_process_record, &sightline::sources::decode_file_record,
        &sightline::sources::decode_net_record, &sightline::sources::decode_enforce_record, +drop, +block_io, +flow}) {
    sightline::core::Event e;
    if (!decode(buf, size, e)) continue;
    out.clear();
    sightline::core::append_event_json(out, e);
    for (const auto& f : sightline::core::kind_def(e.kind).fields)
      sightline::core::append_value_text(out, f.get(e));
  }
  return 0;
}
