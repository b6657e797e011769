// HPACK decoding: integers with an N-bit prefix, Huffman strings, the static and the dynamic
// table (RFC 7541 sections 2.3, 4, 5, 6; the code and the static table from its appendices).
#include "protocols/hpack.h"

#include <array>

namespace sightline::protocols::hpack {
namespace {

struct Code {
  uint32_t bits;
  uint8_t len;
};

// RFC 7541 Appendix B: the code of each symbol 0-255 and EOS (256), right-aligned.
constexpr Code kCodes[257] = {
    {0x1ff8, 13}, {0x7fffd8, 23}, {0xfffffe2, 28}, {0xfffffe3, 28},
    {0xfffffe4, 28}, {0xfffffe5, 28}, {0xfffffe6, 28}, {0xfffffe7, 28},
    {0xfffffe8, 28}, {0xffffea, 24}, {0x3ffffffc, 30}, {0xfffffe9, 28},
    {0xfffffea, 28}, {0x3ffffffd, 30}, {0xfffffeb, 28}, {0xfffffec, 28},
    {0xfffffed, 28}, {0xfffffee, 28}, {0xfffffef, 28}, {0xffffff0, 28},
    {0xffffff1, 28}, {0xffffff2, 28}, {0x3ffffffe, 30}, {0xffffff3, 28},
    {0xffffff4, 28}, {0xffffff5, 28}, {0xffffff6, 28}, {0xffffff7, 28},
    {0xffffff8, 28}, {0xffffff9, 28}, {0xffffffa, 28}, {0xffffffb, 28},
    {0x14, 6}, {0x3f8, 10}, {0x3f9, 10}, {0xffa, 12},
    {0x1ff9, 13}, {0x15, 6}, {0xf8, 8}, {0x7fa, 11},
    {0x3fa, 10}, {0x3fb, 10}, {0xf9, 8}, {0x7fb, 11},
    {0xfa, 8}, {0x16, 6}, {0x17, 6}, {0x18, 6},
    {0x0, 5}, {0x1, 5}, {0x2, 5}, {0x19, 6},
    {0x1a, 6}, {0x1b, 6}, {0x1c, 6}, {0x1d, 6},
    {0x1e, 6}, {0x1f, 6}, {0x5c, 7}, {0xfb, 8},
    {0x7ffc, 15}, {0x20, 6}, {0xffb, 12}, {0x3fc, 10},
    {0x1ffa, 13}, {0x21, 6}, {0x5d, 7}, {0x5e, 7},
    {0x5f, 7}, {0x60, 7}, {0x61, 7}, {0x62, 7},
    {0x63, 7}, {0x64, 7}, {0x65, 7}, {0x66, 7},
    {0x67, 7}, {0x68, 7}, {0x69, 7}, {0x6a, 7},
    {0x6b, 7}, {0x6c, 7}, {0x6d, 7}, {0x6e, 7},
    {0x6f, 7}, {0x70, 7}, {0x71, 7}, {0x72, 7},
    {0xfc, 8}, {0x73, 7}, {0xfd, 8}, {0x1ffb, 13},
    {0x7fff0, 19}, {0x1ffc, 13}, {0x3ffc, 14}, {0x22, 6},
    {0x7ffd, 15}, {0x3, 5}, {0x23, 6}, {0x4, 5},
    {0x24, 6}, {0x5, 5}, {0x25, 6}, {0x26, 6},
    {0x27, 6}, {0x6, 5}, {0x74, 7}, {0x75, 7},
    {0x28, 6}, {0x29, 6}, {0x2a, 6}, {0x7, 5},
    {0x2b, 6}, {0x76, 7}, {0x2c, 6}, {0x8, 5},
    {0x9, 5}, {0x2d, 6}, {0x77, 7}, {0x78, 7},
    {0x79, 7}, {0x7a, 7}, {0x7b, 7}, {0x7ffe, 15},
    {0x7fc, 11}, {0x3ffd, 14}, {0x1ffd, 13}, {0xffffffc, 28},
    {0xfffe6, 20}, {0x3fffd2, 22}, {0xfffe7, 20}, {0xfffe8, 20},
    {0x3fffd3, 22}, {0x3fffd4, 22}, {0x3fffd5, 22}, {0x7fffd9, 23},
    {0x3fffd6, 22}, {0x7fffda, 23}, {0x7fffdb, 23}, {0x7fffdc, 23},
    {0x7fffdd, 23}, {0x7fffde, 23}, {0xffffeb, 24}, {0x7fffdf, 23},
    {0xffffec, 24}, {0xffffed, 24}, {0x3fffd7, 22}, {0x7fffe0, 23},
    {0xffffee, 24}, {0x7fffe1, 23}, {0x7fffe2, 23}, {0x7fffe3, 23},
    {0x7fffe4, 23}, {0x1fffdc, 21}, {0x3fffd8, 22}, {0x7fffe5, 23},
    {0x3fffd9, 22}, {0x7fffe6, 23}, {0x7fffe7, 23}, {0xffffef, 24},
    {0x3fffda, 22}, {0x1fffdd, 21}, {0xfffe9, 20}, {0x3fffdb, 22},
    {0x3fffdc, 22}, {0x7fffe8, 23}, {0x7fffe9, 23}, {0x1fffde, 21},
    {0x7fffea, 23}, {0x3fffdd, 22}, {0x3fffde, 22}, {0xfffff0, 24},
    {0x1fffdf, 21}, {0x3fffdf, 22}, {0x7fffeb, 23}, {0x7fffec, 23},
    {0x1fffe0, 21}, {0x1fffe1, 21}, {0x3fffe0, 22}, {0x1fffe2, 21},
    {0x7fffed, 23}, {0x3fffe1, 22}, {0x7fffee, 23}, {0x7fffef, 23},
    {0xfffea, 20}, {0x3fffe2, 22}, {0x3fffe3, 22}, {0x3fffe4, 22},
    {0x7ffff0, 23}, {0x3fffe5, 22}, {0x3fffe6, 22}, {0x7ffff1, 23},
    {0x3ffffe0, 26}, {0x3ffffe1, 26}, {0xfffeb, 20}, {0x7fff1, 19},
    {0x3fffe7, 22}, {0x7ffff2, 23}, {0x3fffe8, 22}, {0x1ffffec, 25},
    {0x3ffffe2, 26}, {0x3ffffe3, 26}, {0x3ffffe4, 26}, {0x7ffffde, 27},
    {0x7ffffdf, 27}, {0x3ffffe5, 26}, {0xfffff1, 24}, {0x1ffffed, 25},
    {0x7fff2, 19}, {0x1fffe3, 21}, {0x3ffffe6, 26}, {0x7ffffe0, 27},
    {0x7ffffe1, 27}, {0x3ffffe7, 26}, {0x7ffffe2, 27}, {0xfffff2, 24},
    {0x1fffe4, 21}, {0x1fffe5, 21}, {0x3ffffe8, 26}, {0x3ffffe9, 26},
    {0xffffffd, 28}, {0x7ffffe3, 27}, {0x7ffffe4, 27}, {0x7ffffe5, 27},
    {0xfffec, 20}, {0xfffff3, 24}, {0xfffed, 20}, {0x1fffe6, 21},
    {0x3fffe9, 22}, {0x1fffe7, 21}, {0x1fffe8, 21}, {0x7ffff3, 23},
    {0x3fffea, 22}, {0x3fffeb, 22}, {0x1ffffee, 25}, {0x1ffffef, 25},
    {0xfffff4, 24}, {0xfffff5, 24}, {0x3ffffea, 26}, {0x7ffff4, 23},
    {0x3ffffeb, 26}, {0x7ffffe6, 27}, {0x3ffffec, 26}, {0x3ffffed, 26},
    {0x7ffffe7, 27}, {0x7ffffe8, 27}, {0x7ffffe9, 27}, {0x7ffffea, 27},
    {0x7ffffeb, 27}, {0xffffffe, 28}, {0x7ffffec, 27}, {0x7ffffed, 27},
    {0x7ffffee, 27}, {0x7ffffef, 27}, {0x7fffff0, 27}, {0x3ffffee, 26},
    {0x3fffffff, 30},
};

// RFC 7541 Appendix A, indices 1-61.
constexpr std::pair<std::string_view, std::string_view> kStatic[61] = {
    {":authority", ""},
    {":method", "GET"},
    {":method", "POST"},
    {":path", "/"},
    {":path", "/index.html"},
    {":scheme", "http"},
    {":scheme", "https"},
    {":status", "200"},
    {":status", "204"},
    {":status", "206"},
    {":status", "304"},
    {":status", "400"},
    {":status", "404"},
    {":status", "500"},
    {"accept-charset", ""},
    {"accept-encoding", "gzip, deflate"},
    {"accept-language", ""},
    {"accept-ranges", ""},
    {"accept", ""},
    {"access-control-allow-origin", ""},
    {"age", ""},
    {"allow", ""},
    {"authorization", ""},
    {"cache-control", ""},
    {"content-disposition", ""},
    {"content-encoding", ""},
    {"content-language", ""},
    {"content-length", ""},
    {"content-location", ""},
    {"content-range", ""},
    {"content-type", ""},
    {"cookie", ""},
    {"date", ""},
    {"etag", ""},
    {"expect", ""},
    {"expires", ""},
    {"from", ""},
    {"host", ""},
    {"if-match", ""},
    {"if-modified-since", ""},
    {"if-none-match", ""},
    {"if-range", ""},
    {"if-unmodified-since", ""},
    {"last-modified", ""},
    {"link", ""},
    {"location", ""},
    {"max-forwards", ""},
    {"proxy-authenticate", ""},
    {"proxy-authorization", ""},
    {"range", ""},
    {"referer", ""},
    {"refresh", ""},
    {"retry-after", ""},
    {"server", ""},
    {"set-cookie", ""},
    {"strict-transport-security", ""},
    {"transfer-encoding", ""},
    {"user-agent", ""},
    {"vary", ""},
    {"via", ""},
    {"www-authenticate", ""},
};

// The Huffman code as a binary tree: node i's children at kids[i][bit]; a leaf holds its symbol
// as -(sym + 1). Built once.
struct Tree {
  std::vector<std::array<int32_t, 2>> kids;
  Tree() {
    kids.push_back({0, 0});
    for (int sym = 0; sym < 257; sym++) {
      int32_t node = 0;
      for (int b = kCodes[sym].len - 1; b >= 0; b--) {
        int bit = (kCodes[sym].bits >> b) & 1;
        if (b == 0) {
          kids[node][bit] = -(sym + 1);
        } else {
          if (kids[node][bit] == 0) {
            kids[node][bit] = static_cast<int32_t>(kids.size());
            kids.push_back({0, 0});
          }
          node = kids[node][bit];
        }
      }
    }
  }
};

const Tree& tree() {
  static const Tree t;
  return t;
}

// An integer with an N-bit prefix at in[*pos] (RFC 7541 5.1); false if cut or too large.
bool read_int(std::string_view in, size_t* pos, int prefix, uint64_t* v) {
  if (*pos >= in.size()) return false;
  uint64_t max = (1u << prefix) - 1;
  *v = static_cast<uint8_t>(in[(*pos)++]) & max;
  if (*v < max) return true;
  for (int shift = 0; shift <= 28; shift += 7) {
    if (*pos >= in.size()) return false;
    uint8_t b = static_cast<uint8_t>(in[(*pos)++]);
    *v += static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return true;
  }
  return false;  // past 2^35: no header block means that
}

// A string literal (RFC 7541 5.2), cut at kMaxString.
bool read_string(std::string_view in, size_t* pos, std::string* out) {
  if (*pos >= in.size()) return false;
  bool huff = static_cast<uint8_t>(in[*pos]) & 0x80;
  uint64_t len = 0;
  if (!read_int(in, pos, 7, &len) || len > in.size() - *pos) return false;
  std::string_view raw = in.substr(*pos, len);
  *pos += len;
  out->clear();
  if (huff) return huffman_decode(raw, out);
  out->assign(raw.substr(0, kMaxString));
  return true;
}

constexpr size_t entry_size(const std::string& n, const std::string& v) { return n.size() + v.size() + 32; }

}  // namespace

bool huffman_decode(std::string_view in, std::string* out, size_t limit) {
  const auto& kids = tree().kids;
  int32_t node = 0;
  int depth = 0;    // bits since the last symbol
  bool ones = true;  // and all of them ones (padding is EOS's prefix: all ones)
  for (char c : in) {
    for (int b = 7; b >= 0; b--) {
      int bit = (static_cast<uint8_t>(c) >> b) & 1;
      ones &= bit == 1;
      depth++;
      int32_t next = kids[node][bit];
      if (next < 0) {
        if (next == -257) return false;  // EOS inside a string
        if (out->size() < limit) out->push_back(static_cast<char>(-next - 1));
        node = 0;
        depth = 0;
        ones = true;
      } else if (next == 0) {
        return false;
      } else {
        node = next;
      }
    }
  }
  return depth <= 7 && ones;
}

void Decoder::set_max_size(size_t n) {
  allowed_ = std::min(n, kMaxTable);
  if (max_ > allowed_) {
    max_ = allowed_;
    evict_to(max_);
  }
}

void Decoder::lost() {
  entries_.clear();
  size_ = bytes_ = 0;
  broken_ = true;
}

void Decoder::evict_to(size_t limit) {
  while (size_ > limit && !entries_.empty()) {
    const Header& h = entries_.back();
    size_ -= entry_size(h.name, h.value);
    bytes_ -= h.name.capacity() + h.value.capacity();
    entries_.pop_back();
  }
}

void Decoder::insert(std::string name, std::string value) {
  size_t sz = entry_size(name, value);
  evict_to(max_ >= sz ? max_ - sz : 0);
  if (sz > max_) return;  // larger than the table: it empties it (RFC 7541 4.4)
  name.shrink_to_fit();
  value.shrink_to_fit();
  size_ += sz;
  bytes_ += name.capacity() + value.capacity();
  entries_.push_front({std::move(name), std::move(value)});
}

bool Decoder::lookup(uint64_t index, std::string* name, std::string* value) {
  if (index == 0) return false;
  if (index <= 61) {
    name->assign(kStatic[index - 1].first);
    value->assign(kStatic[index - 1].second);
    return true;
  }
  uint64_t d = index - 62;
  if (d < entries_.size()) {
    *name = entries_[d].name;
    *value = entries_[d].value;
    return true;
  }
  if (!broken_) return false;  // past a table we saw whole: malformed
  stats_.unknown++;
  name->clear();  // an entry inserted before we joined (or lost)
  value->clear();
  return true;
}

bool Decoder::decode(std::string_view in, std::vector<Header>* out) {
  size_t pos = 0, n = 0;
  std::string& name = name_;  // kept between blocks with their capacity, as out's entries are
  std::string& value = value_;
  auto fail = [&] {
    stats_.errors++;
    lost();
    out->resize(std::min(n, kMaxHeaders));
    return false;
  };
  while (pos < in.size()) {
    uint8_t b = static_cast<uint8_t>(in[pos]);
    uint64_t v = 0;
    if (b & 0x80) {  // indexed field
      if (!read_int(in, &pos, 7, &v) || !lookup(v, &name, &value)) return fail();
    } else if ((b & 0xe0) == 0x20) {  // dynamic table size update
      if (!read_int(in, &pos, 5, &v)) return fail();
      if (v > allowed_) {  // past what we can hold (or what was allowed): we stop trusting it
        max_ = allowed_;
        lost();
      } else {
        max_ = v;
        evict_to(max_);
      }
      continue;
    } else {  // a literal: with incremental indexing (01), without (0000), never indexed (0001)
      bool indexing = (b & 0xc0) == 0x40;
      if (!read_int(in, &pos, indexing ? 6 : 4, &v)) return fail();
      if (v == 0) {
        if (!read_string(in, &pos, &name)) return fail();
      } else if (!lookup(v, &name, &value)) {  // the name; the value follows
        return fail();
      }
      if (!read_string(in, &pos, &value)) return fail();
      if (indexing) {
        if (name.empty() && v != 0) {
          // An unknown name inserted: its size is unknown too, so the table's bound is; keep
          // counting it as unknown from here.
          lost();
        } else {
          insert(name, value);
        }
      }
    }
    if (n < kMaxHeaders) {
      if (n == out->size()) out->emplace_back();
      (*out)[n].name = name;  // into the strings already there: no allocation once warm
      (*out)[n].value = value;
    }
    n++;
  }
  out->resize(std::min(n, kMaxHeaders));
  return true;
}

}  // namespace sightline::protocols::hpack
