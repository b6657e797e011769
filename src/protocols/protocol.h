// What every L7 parser shares: the two byte streams of one connection in, request records
// out. Parsers are pure (no sockets, no BPF, no clocks: time comes with the bytes), incremental
// (bytes arrive cut anywhere), bounded (a buffer cap per side, a cap on requests waiting for
// their responses) and resync after garbage or a gap at the next message boundary, counting it.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace sightline::protocols {

// Who wrote the bytes: the client (requests) or the server (responses).
enum class Side : uint8_t { kClient, kServer };

enum class Protocol : uint8_t { kUnknown = 0, kHttp = 1, kPgsql = 2, kMysql = 3, kRedis = 4, kDns = 5, kHttp2 = 6, kMemcached = 7, kNats = 8, kAmqp = 9 };
inline constexpr size_t kProtocols = 10;
std::string_view protocol_name(Protocol p);
// A DNS response code's name (RFC 1035, 2136): NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP,
// REFUSED, YXDOMAIN, YXRRSET, NXRRSET, NOTAUTH, NOTZONE; OTHER past them (a bounded label).
std::string_view dns_rcode_name(int32_t rcode);

// W3C Trace Context (traceparent: 00-<trace id>-<parent id>-<flags>): lower-case hex, both
// empty when the request had none (or an invalid one).
struct TraceContext {
  std::string trace_id;   // 32 hex digits
  std::string parent_id;  // 16 hex digits: the caller's span
  bool sampled = false;
};
// A traceparent header's value; false (and *out untouched) if it is not a valid one.
bool parse_traceparent(std::string_view v, TraceContext* out);

// One request matched with its response.
struct Record {
  std::string method;      // GET, SELECT, GET (Redis), A (DNS query type) ...
  std::string target;      // normalized: /users/{id}, SELECT * FROM t WHERE id = ?, a DNS name
  std::string raw;         // as sent (bounded: kMaxRaw bytes): /users/42?x=1, the SQL, the command
  int32_t status = 0;      // HTTP status, DNS rcode; 0 where the protocol has none
  bool error = false;      // HTTP 5xx, an error reply, a DNS rcode other than NOERROR
  std::string error_text;  // the server's error message, when it sends one (bounded)
  uint64_t start_ns = 0;   // the request's first bytes were moved
  uint64_t end_ns = 0;     // the response's last bytes were moved (0: none)
  uint64_t request_bytes = 0, response_bytes = 0;
  int64_t rows = -1;       // rows returned or affected, where the protocol says (-1: unknown)
  bool no_response = false;  // the connection closed (or the parser gave up) before a response
  std::vector<std::string> addresses;  // DNS: the A/AAAA answers (at most kMaxAnswers)
  bool grpc = false;       // HTTP/2: a gRPC call (status: grpc-status; rows: response messages)
  TraceContext trace;      // HTTP/1, HTTP/2, gRPC, AMQP messages: the request's W3C traceparent, when it had one
  bool delivery = false;   // messaging: the server pushed it to this client (NATS MSG, AMQP DELIVER): its edge runs server -> client
};

inline constexpr size_t kMaxAnswers = 16;

inline constexpr size_t kMaxRaw = 256;
// Bytes a side may hold while a message is incomplete; past it the side resyncs.
inline constexpr size_t kMaxBuffered = 64 * 1024;
// Requests waiting for responses (pipelining); past it the oldest is flushed unanswered.
inline constexpr size_t kMaxPending = 128;

// Heap bytes a string holds (none while it fits in the string object itself).
inline size_t heap_bytes(const std::string& s) { return s.capacity() > 15 ? s.capacity() + 1 : 0; }
// A buffer emptied after a large message gives its memory back (a kept connection would hold
// its largest message's bytes for its whole life).
inline void release_if_large(std::string& s) {
  if (s.empty() && s.capacity() > 4096) std::string().swap(s);
}

// A request waiting for its response, as every parser keeps them (in order).
struct Request {
  std::string method, raw, target;
  uint64_t start_ns = 0, bytes = 0;
  TraceContext trace = {};
  // The record it becomes: answered at end_ns with a response of that size, or (end_ns 0) not.
  Record finish(uint64_t end_ns, uint64_t response_bytes) &&;
};

// Prepared statements of one connection (PostgreSQL's names, MySQL's ids -> their SQL): the
// newest kMax kept, their bytes known.
template <class Key>
class Statements {
 public:
  static constexpr size_t kMax = 256;
  void put(const Key& k, std::string sql) {
    if (auto it = map_.find(k); it != map_.end()) forget(it);
    else if (map_.size() >= kMax) forget(map_.begin());
    bytes_ += cost(k, sql);
    map_.emplace(k, std::move(sql));
  }
  const std::string* find(const Key& k) const {
    auto it = map_.find(k);
    return it == map_.end() ? nullptr : &it->second;
  }
  size_t bytes() const { return bytes_; }

 private:
  using Map = std::map<Key, std::string>;
  static size_t cost(const Key& k, const std::string& sql) {
    size_t n = sizeof(typename Map::value_type) + 32 + sql.size();  // a tree node and its text
    if constexpr (std::is_same_v<Key, std::string>) n += k.size();
    return n;
  }
  void forget(typename Map::iterator it) {
    bytes_ -= cost(it->first, it->second);
    map_.erase(it);
  }
  Map map_;
  size_t bytes_ = 0;
};

// What a request waiting for its response holds: its object and strings bounded by kMaxRaw.
inline constexpr size_t kPendingBytes = sizeof(Request) + 2 * kMaxRaw + 64;  // + a traceparent's ids

struct ParserStats {
  uint64_t resyncs = 0;        // sync lost (garbage, a gap inside a header, a full buffer)
  uint64_t skipped_bytes = 0;  // bytes dropped while resyncing
  uint64_t orphans = 0;        // responses with no request to match
  uint64_t undecoded = 0;      // HTTP/2: header fields HPACK could not name (a connection joined mid-way)
};

class Parser {
 public:
  virtual ~Parser() = default;
  // Bytes of one side, in order, moved at ts_ns.
  virtual void feed(Side side, std::string_view data, uint64_t ts_ns, std::vector<Record>* out) = 0;
  // `n` bytes of one side moved that were not captured (cut records, sendfile).
  virtual void gap(Side side, uint64_t n, uint64_t ts_ns, std::vector<Record>* out) = 0;
  // The connection closed: a response read to the close completes; requests left unanswered.
  virtual void close(uint64_t ts_ns, std::vector<Record>* out) = 0;
  // Heap bytes the connection's state holds now: buffers, requests waiting, statements. Called
  // after every feed (the l7 tracker's byte bound), so it is a sum, never a walk.
  virtual size_t memory() const = 0;
  const ParserStats& stats() const { return stats_; }
  // The trace context of the newest request waiting for its answer, where the protocol carries
  // one (HTTP/1, HTTP/2); nullptr otherwise. What a server thread serves while it calls others.
  virtual const TraceContext* open_trace() const { return nullptr; }
  // The protocol the connection switched to in the bytes fed so far (HTTP/1's upgrade to h2c:
  // the parser goes on as HTTP/2 itself), kUnknown while it has not.
  virtual Protocol switched_to() const { return Protocol::kUnknown; }

 protected:
  ParserStats stats_;
};

// A parser for one connection; `stream`: TCP (false: each feed is one datagram).
std::unique_ptr<Parser> make_parser(Protocol p, bool stream = true);
// HTTP/2 on a connection upgraded from HTTP/1.1 (h2c, RFC 7540 3.2): `upgrade`, the request
// that asked for it (taken; nullptr: not seen), is stream 1, answered on HTTP/2 (`switch_bytes`,
// the 101's, count in its response); the server's frames may come before the client's preface.
std::unique_ptr<Parser> make_http2_upgraded(Request* upgrade, uint64_t switch_bytes);

// Shared by the parsers: an id-like path segment or literal becomes a placeholder.
std::string normalize_path(std::string_view target);  // /users/42/orders?x=1 -> /users/{id}/orders
// The same for a subject or routing key of tokens split by `sep`: orders.42.created -> orders.{id}.created
std::string normalize_tokens(std::string_view s, char sep);
// Words of a text protocol's line split by spaces (at most `max`); a decimal number (19 digits at most).
std::vector<std::string_view> split_words(std::string_view line, size_t max = 8);
bool parse_decimal(std::string_view s, uint64_t* v);

// One side of a text protocol made of CRLF-terminated lines (bounded) and payloads whose length
// a line gave (memcached's data blocks, NATS's messages): lines are gathered across reads,
// payloads counted and skipped, never kept; a gap inside a payload is skipped exactly.
class LineReader {
 public:
  enum class Got { kMore, kLine, kPayload, kBad };
  explicit LineReader(size_t max_line = 2048) : max_(max_line) {}
  // The next thing from data[*pos]: kLine (line(): without its CRLF), kPayload (the payload
  // expect()ed has ended), kBad (a line not ended by CRLF or past the bound: the reader is
  // reset), kMore (the data is used up).
  Got next(std::string_view data, size_t* pos);
  const std::string& line() const { return line_; }
  // After a line: n bytes of payload come next.
  void expect(uint64_t n) { payload_ = n; }
  bool in_payload() const { return payload_ > 0; }
  // n bytes not captured: true if they fell inside the payload (skipped).
  bool skip(uint64_t n);
  size_t buffered() const { return line_done_ ? 0 : line_.size(); }
  size_t memory() const { return heap_bytes(line_); }

 private:
  std::string line_;
  bool line_done_ = false;
  uint64_t payload_ = 0;
  size_t max_;
};
std::string normalize_sql(std::string_view sql);       // literals -> ?, whitespace folded
std::string bounded(std::string_view s, size_t n = kMaxRaw);
std::string sql_verb(std::string_view sql);  // the statement's first keyword, upper case: SELECT
// A request carrying SQL: raw (bounded) and normalized text, and the given method.
Request sql_request(std::string_view sql, std::string method, uint64_t start_ns, uint64_t bytes);

}  // namespace sightline::protocols
