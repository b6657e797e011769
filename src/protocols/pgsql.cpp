// PostgreSQL frontend/backend protocol 3.0: simple queries ('Q') and extended-query cycles
// (Parse/Bind/Describe/Execute up to Sync; one without an Execute is a PREPARE, as libpq's
// PQprepare sends: not a run of its statement) each paired with the backend's messages up to
// ReadyForQuery ('Z'); the statement's text (from the Parse of the cycle, or of the named
// statement it executes), rows from the last CommandComplete tag, the ErrorResponse message.
// The startup exchange (StartupMessage, SSLRequest, authentication) is skipped. Payloads of
// messages that do not matter (DataRow ...) are counted, not buffered, so a gap in one is skipped
// exactly; a gap elsewhere resyncs at the next Query/Parse (client) or ReadyForQuery (server).
#include <cctype>
#include <deque>
#include <map>

#include "protocols/protocol.h"

namespace sightline::protocols {
namespace {

constexpr uint32_t kMaxMessage = 1u << 30;
constexpr size_t kKeep = 2048;        // payload bytes kept of messages we read

uint32_t be32(const char* p) {
  auto u = reinterpret_cast<const uint8_t*>(p);
  return (uint32_t(u[0]) << 24) | (uint32_t(u[1]) << 16) | (uint32_t(u[2]) << 8) | u[3];
}


class PgsqlParser final : public Parser {
 public:
  size_t memory() const override {
    return heap_bytes(c_.head) + heap_bytes(c_.payload) + heap_bytes(s_.head) + heap_bytes(s_.payload) +
           heap_bytes(cycle_sql_) + heap_bytes(error_text_) + pending_.size() * (sizeof(Pending) + 2 * kMaxRaw) +
           statements_.bytes();
  }
  void feed(Side side, std::string_view data, uint64_t ts, std::vector<Record>* out) override {
    Stream& s = side == Side::kClient ? c_ : s_;
    size_t pos = 0;
    auto header_ready = [&] { return !s.in_message && s.head.size() >= ((side == Side::kClient && !started_) ? 8u : 5u); };
    while (pos < data.size() || header_ready()) {
      if (encrypted_) return;
      if (s.in_message) {
        size_t take = std::min<uint64_t>(s.left, data.size() - pos);
        feed_payload(side, s, data.substr(pos, take), ts, out);
        pos += take;
        continue;
      }
      if (side == Side::kServer && ssl_answer_ && s.head.empty()) {  // the one-byte answer to SSLRequest
        ssl_answer_ = false;
        if (data[pos] == 'S') encrypted_ = true;
        pos++;
        continue;
      }
      // A header: type and length; the startup messages have no type byte, and a code after
      // the length tells which one (8 bytes are needed to know).
      size_t need = (side == Side::kClient && !started_) ? 8 : 5;
      if (s.head.size() < need) {
        size_t n = std::min(need - s.head.size(), data.size() - pos);
        s.head.append(data.substr(pos, n));
        pos += n;
        if (s.head.size() < need) continue;
      }
      size_t used = begin(side, s);
      if (!used) {  // not a header: sync is lost; look for one a byte further on
        if (!s.resync) lose_sync(side, s, out);
        s.head.erase(0, 1);
        stats_.skipped_bytes++;
        continue;
      }
      // Header bytes read past the header belong to the payload, or to the next message.
      std::string extra = s.head.substr(used);
      s.head.clear();
      size_t k = std::min<uint64_t>(extra.size(), s.left);
      if (s.left == 0) message_done(side, s, ts, out);  // a message of a header only (Sync ...)
      else feed_payload(side, s, std::string_view(extra).substr(0, k), ts, out);
      if (k < extra.size()) s.head = extra.substr(k);
    }
  }

  void gap(Side side, uint64_t n, uint64_t ts, std::vector<Record>* out) override {
    if (n == 0 || encrypted_) return;
    Stream& s = side == Side::kClient ? c_ : s_;
    if (s.in_message && s.left >= n) {
      s.left -= n;
      if (s.left == 0) message_done(side, s, ts, out);
      return;
    }
    lose_sync(side, s, out);
    s.head.clear();
  }

  void close(uint64_t, std::vector<Record>* out) override {
    while (!pending_.empty()) unanswered(out);
  }

 private:
  struct Stream {
    std::string head;          // type + length, being read
    bool in_message = false;
    char type = 0;
    uint64_t left = 0;         // payload bytes still to come (counted, kept up to kKeep)
    std::string payload;       // up to kKeep bytes of it
    uint64_t bytes_total = 0;  // bytes of the current request/response
    bool resync = false;
  };
  struct Pending {
    Request req;
    bool internal = false;  // startup and authentication: not a request of the application
  };

  // Starts a message from the header in s.head; returns the header's size (0: not a header).
  size_t begin(Side side, Stream& s) {
    uint32_t len = 0;
    size_t hdr = 5;
    if (side == Side::kClient && !started_) {  // StartupMessage, SSLRequest, GSSENCRequest, CancelRequest
      len = be32(s.head.data());
      uint32_t code = be32(s.head.data() + 4);
      bool known = code == 0x00030000 || code == 80877103 || code == 80877104 || code == 80877102;
      if (known && len >= 8 && len <= 10000) {
        hdr = 4;
        s.type = code == 80877103 ? 's' : code == 80877104 ? 'g' : code == 80877102 ? 'x' : '0';
        started_ = code != 80877103 && code != 80877104;  // a refused SSL/GSS request: the startup follows
      } else {
        started_ = true;  // joined a running connection: typed messages from here
      }
    }
    if (hdr == 5) {
      s.type = s.head[0];
      len = be32(s.head.data() + 1);
      std::string_view types = side == Side::kClient ? std::string_view("QPBESDCHXFdcfp") : std::string_view("RSKZTDCEN123nstIGHWAVcdv");
      if (len < 4 || len > kMaxMessage || types.find(s.type) == std::string_view::npos) return 0;
      if (s.resync && !(side == Side::kClient ? (s.type == 'Q' || s.type == 'P') : (s.type == 'Z' && len == 5)))
        return 0;
      s.resync = false;
    }
    s.left = len - 4;
    s.in_message = true;
    s.payload.clear();
    s.bytes_total += len + (hdr == 5 ? 1 : 0);
    return hdr;
  }

  void feed_payload(Side side, Stream& s, std::string_view bytes, uint64_t ts, std::vector<Record>* out) {
    if (!s.in_message) return;
    size_t n = std::min<uint64_t>(bytes.size(), s.left);
    if (s.payload.size() < kKeep) s.payload.append(bytes.substr(0, std::min(n, kKeep - s.payload.size())));
    s.left -= n;
    if (s.left == 0) message_done(side, s, ts, out);
  }

  void message_done(Side side, Stream& s, uint64_t ts, std::vector<Record>* out) {
    s.in_message = false;
    s.head.clear();
    std::string_view p = s.payload;
    if (side == Side::kClient) {
      client_message(s.type, p, ts, s, out);
      return;
    }
    switch (s.type) {
      case 'C': {  // CommandComplete: "SELECT 5", "INSERT 0 1"
        std::string_view tag = p.substr(0, p.find('\0'));
        size_t sp = tag.rfind(' ');
        if (sp != std::string_view::npos) {
          int64_t rows = 0;
          bool num = sp + 1 < tag.size();
          for (char ch : tag.substr(sp + 1)) num &= isdigit(static_cast<unsigned char>(ch)) != 0, rows = rows * 10 + (ch - '0');
          if (num) rows_ = rows;
        }
        break;
      }
      case 'E': {  // ErrorResponse: fields of a type byte and a string; 'M' is the message
        error_ = true;
        for (size_t i = 0; i < p.size() && p[i];) {
          char f = p[i];
          size_t end = p.find('\0', i + 1);
          if (end == std::string_view::npos) break;
          if (f == 'M') error_text_ = bounded(p.substr(i + 1, end - i - 1));
          i = end + 1;
        }
        break;
      }
      case 'Z':  // ReadyForQuery: the oldest request is answered
        answer(ts, s.bytes_total, out);
        s.bytes_total = 0;
        break;
    }
  }

  void client_message(char type, std::string_view p, uint64_t ts, Stream& s, std::vector<Record>* out) {
    switch (type) {
      case 's': case 'g':  // SSLRequest / GSSENCRequest: one byte answers
        ssl_answer_ = true;
        s.bytes_total = 0;
        return;
      case '0':  // StartupMessage: authentication follows until ReadyForQuery
        push({Request{"", "", "", ts, s.bytes_total}, true}, out);
        s.bytes_total = 0;
        return;
      case 'Q': {
        std::string sql(p.substr(0, p.find('\0')));
        push({sql_request(sql, sql_verb(sql), cycle_start_ ? cycle_start_ : ts, s.bytes_total), false}, out);
        s.bytes_total = 0;
        cycle_start_ = 0;
        return;
      }
      case 'P': {  // Parse: name\0 query\0 ...
        size_t z = p.find('\0');
        if (z == std::string_view::npos) return;
        std::string name(p.substr(0, z));
        std::string_view rest = p.substr(z + 1);
        std::string sql(rest.substr(0, rest.find('\0')));
        if (!name.empty()) statements_.put(name, sql);
        cycle_sql_ = sql;
        cycle_parsed_ = true;
        break;
      }
      case 'B': {  // Bind: portal\0 statement\0 ...: a named statement's text
        size_t z = p.find('\0');
        if (z == std::string_view::npos) break;
        std::string_view rest = p.substr(z + 1);
        std::string stmt(rest.substr(0, rest.find('\0')));
        if (!stmt.empty())
          if (const std::string* s = statements_.find(stmt)) cycle_sql_ = *s;
        break;
      }
      case 'E':  // Execute: the cycle runs its statement
        cycle_executes_ = true;
        break;
      case 'S': {  // Sync: the cycle is one request; without an Execute it only prepared (or described)
        std::string method = !cycle_executes_ ? (cycle_parsed_ ? "PREPARE" : "SYNC")
                             : cycle_sql_.empty() ? "EXECUTE"
                                                  : sql_verb(cycle_sql_);
        push({sql_request(cycle_sql_, std::move(method), cycle_start_ ? cycle_start_ : ts, s.bytes_total), false}, out);
        s.bytes_total = 0;
        cycle_sql_.clear();
        cycle_start_ = 0;
        cycle_executes_ = cycle_parsed_ = false;
        return;
      }
      case 'X':  // Terminate
        return;
      case 'p':  // password and SASL messages belong to the startup
        s.bytes_total = 0;
        return;
    }
    if (!cycle_start_) cycle_start_ = ts;
  }

  void push(Pending r, std::vector<Record>* out) {
    pending_.push_back(std::move(r));
    if (pending_.size() > kMaxPending) unanswered(out);
  }

  void answer(uint64_t ts, uint64_t bytes, std::vector<Record>* out) {
    if (pending_.empty()) {
      stats_.orphans++;
    } else {
      Pending& q = pending_.front();
      if (!q.internal) {
        Record r = std::move(q.req).finish(ts, bytes);
        r.error = error_;
        r.error_text = std::move(error_text_);
        r.rows = error_ ? -1 : rows_;
        out->push_back(std::move(r));
      }
      pending_.pop_front();
    }
    error_ = false;
    error_text_.clear();
    rows_ = -1;
  }

  void unanswered(std::vector<Record>* out) {
    if (!pending_.front().internal) out->push_back(std::move(pending_.front().req).finish(0, 0));
    pending_.pop_front();
  }

  void lose_sync(Side side, Stream& s, std::vector<Record>* out) {
    stats_.resyncs++;
    std::string head = std::move(s.head);
    s = Stream{};
    s.head = std::move(head);  // scanned on, a byte at a time
    s.resync = true;
    started_ = true;
    if (side == Side::kServer) {
      while (!pending_.empty()) unanswered(out);
      error_ = false;
      rows_ = -1;
    }
  }

  Stream c_, s_;
  std::deque<Pending> pending_;
  Statements<std::string> statements_;
  std::string cycle_sql_;
  uint64_t cycle_start_ = 0;
  bool cycle_parsed_ = false, cycle_executes_ = false;  // the cycle so far has a Parse, an Execute
  bool started_ = false;      // the client sent its startup (or we joined a running connection)
  bool ssl_answer_ = false, encrypted_ = false;
  bool error_ = false;
  std::string error_text_;
  int64_t rows_ = -1;
};

}  // namespace

std::unique_ptr<Parser> make_pgsql_parser() { return std::make_unique<PgsqlParser>(); }

}  // namespace sightline::protocols
