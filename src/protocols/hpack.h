// HPACK (RFC 7541): the header compression of HTTP/2, decoded as a passive observer. One
// Decoder per direction of a connection (each side's encoder has its own dynamic table). Bounded:
// the dynamic table's size is the smaller of what the peer allowed and kMaxTable; a string is
// cut at kMaxString. A connection joined mid-way holds entries the observer never saw inserted:
// a reference past the entries it knows decodes as an unknown header and is counted, and the
// entries it knows stay right (new ones go in front). A header block lost whole (a gap) leaves
// insertions unknown: the table is dropped and marked, later references count as unknown.
#pragma once

#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sightline::protocols::hpack {

inline constexpr size_t kMaxTable = 64 * 1024;  // bytes (RFC sizes: name + value + 32 each)
inline constexpr size_t kMaxString = 4096;      // a name or value longer is cut
inline constexpr size_t kMaxHeaders = 256;      // per block; the rest skipped

// Huffman-decoded `in` appended to *out (at most `limit` bytes kept). False if the code is
// malformed (an EOS symbol, padding longer than 7 bits or not all ones).
bool huffman_decode(std::string_view in, std::string* out, size_t limit = kMaxString);

struct Header {
  std::string name, value;
};

struct DecoderStats {
  uint64_t unknown = 0;  // references to entries never seen (joined mid-way, or after a loss)
  uint64_t errors = 0;   // malformed blocks (the table is then dropped)
};

class Decoder {
 public:
  // A header block (HEADERS and its CONTINUATIONs, joined): *out becomes its headers (the
  // entries already there are reused, strings and all). Returns false if it is malformed (what
  // decoded before the fault stays in *out).
  bool decode(std::string_view block, std::vector<Header>* out);
  // The decoder's side announced SETTINGS_HEADER_TABLE_SIZE: the encoder may use up to it.
  void set_max_size(size_t n);
  // Insertions were missed (a header block not captured): what the table holds is unknown.
  void lost();
  size_t memory() const { return bytes_ + entries_.size() * sizeof(Header) + name_.capacity() + value_.capacity(); }
  size_t size() const { return size_; }
  const DecoderStats& stats() const { return stats_; }

 private:
  bool lookup(uint64_t index, std::string* name, std::string* value);
  void insert(std::string name, std::string value);
  void evict_to(size_t limit);
  std::deque<Header> entries_;  // newest first
  size_t size_ = 0;             // RFC size of the entries
  size_t bytes_ = 0;            // heap bytes of their strings
  size_t max_ = 4096;           // the table's size limit now (size updates)
  size_t allowed_ = 4096;       // what the settings allow (SETTINGS_HEADER_TABLE_SIZE)
  std::string name_, value_;    // the field being decoded
  bool broken_ = false;         // entries exist that we never saw: refs past ours are unknown
  DecoderStats stats_;
};

}  // namespace sightline::protocols::hpack
