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

// Reads fields of untrusted input one at a time; never reads past the end. Malformed input
// (a truncated varint, a length past the end, an unknown wire type) stops next() and sets
// error().
class Reader {
 public:
  explicit Reader(std::string_view data) : d_(data) {}
  bool next() {
    if (pos_ >= d_.size() || err_) return false;
    uint64_t key;
    if (!raw_varint(&key)) return fail();
    field_ = static_cast<uint32_t>(key >> 3);
    wire_ = static_cast<uint32_t>(key & 7);
    switch (wire_) {
      case 0:
        if (!raw_varint(&num_)) return fail();
        break;
      case 1:
        if (d_.size() - pos_ < 8) return fail();
        memcpy(&num_, d_.data() + pos_, 8);
        pos_ += 8;
        break;
      case 2: {
        uint64_t n;
        if (!raw_varint(&n) || n > d_.size() - pos_) return fail();
        bytes_ = d_.substr(pos_, n);
        pos_ += n;
        break;
      }
      case 5: {
        if (d_.size() - pos_ < 4) return fail();
        uint32_t v;
        memcpy(&v, d_.data() + pos_, 4);
        num_ = v;
        pos_ += 4;
        break;
      }
      default:
        return fail();
    }
    return field_ != 0 || fail();
  }
  uint32_t field() const { return field_; }
  uint32_t wire() const { return wire_; }
  uint64_t u64() const { return num_; }
  int64_t i64() const { return static_cast<int64_t>(num_); }
  double dbl() const {
    double v;
    memcpy(&v, &num_, 8);
    return v;
  }
  std::string_view bytes() const { return wire_ == 2 ? bytes_ : std::string_view(); }
  bool error() const { return err_; }

 private:
  bool fail() {
    err_ = true;
    return false;
  }
  bool raw_varint(uint64_t* v) {
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos_ >= d_.size()) return false;
      uint8_t b = static_cast<uint8_t>(d_[pos_++]);
      *v |= uint64_t(b & 0x7f) << shift;
      if (!(b & 0x80)) return true;
    }
    return false;
  }
  std::string_view d_;
  size_t pos_ = 0;
  uint32_t field_ = 0, wire_ = 0;
  uint64_t num_ = 0;
  std::string_view bytes_;
  bool err_ = false;
};

}  // namespace sightline::exporter::pb
