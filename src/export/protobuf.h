// A protobuf writer for the few messages the exporters send (Prometheus remote-write, OTLP):
// fields appended to a string; a nested message is written to its own Writer, then added.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace sightline::exporter::pb {

class Writer {
 public:
  void varint(uint32_t field, uint64_t v) {
    tag(field, 0);
    raw_varint(v);
  }
  void sint64(uint32_t field, int64_t v) { varint(field, static_cast<uint64_t>(v)); }  // int64 (not zigzag)
  void boolean(uint32_t field, bool v) { varint(field, v); }
  void fixed64(uint32_t field, uint64_t v) {
    tag(field, 1);
    char b[8];
    memcpy(b, &v, 8);  // little-endian hosts (x86_64, arm64)
    out_.append(b, 8);
  }
  void dbl(uint32_t field, double v) {
    uint64_t u;
    memcpy(&u, &v, 8);
    fixed64(field, u);
  }
  void bytes(uint32_t field, std::string_view v) {
    tag(field, 2);
    raw_varint(v.size());
    out_.append(v);
  }
  void message(uint32_t field, const Writer& m) { bytes(field, m.out_); }
  const std::string& data() const { return out_; }
  std::string take() { return std::move(out_); }
  void clear() { out_.clear(); }

 private:
  void tag(uint32_t field, uint32_t wire) { raw_varint((uint64_t{field} << 3) | wire); }
  void raw_varint(uint64_t v) {
    while (v >= 0x80) {
      out_.push_back(static_cast<char>(v | 0x80));
      v >>= 7;
    }
    out_.push_back(static_cast<char>(v));
  }
  std::string out_;
};

}  // namespace sightline::exporter::pb
