// MySQL/MariaDB client/server protocol: commands (COM_QUERY, COM_STMT_PREPARE/EXECUTE, PING,
// INIT_DB ...) paired with the server's response: OK (affected rows), ERR (code and message),
// or a result set (columns, rows counted, to its EOF/OK terminator, either EOF convention). The
// handshake and authentication are skipped; prepared statements' text is remembered by id (256).
// Packets are framed (3-byte length, sequence id) and counted, not buffered beyond what a
// decision needs, so a gap inside one is skipped exactly; a gap elsewhere drops the response in
// flight and the server side waits for the next command.
#include <cctype>
#include <deque>
#include <map>

#include "protocols/protocol.h"

namespace sightline::protocols {
namespace {

constexpr size_t kKeep = 2048;
constexpr uint32_t kDeprecateEof = 0x01000000;


// A length-encoded integer at p[*i]; false if cut.
bool lenenc(std::string_view p, size_t* i, uint64_t* v) {
  if (*i >= p.size()) return false;
  uint8_t c = static_cast<uint8_t>(p[*i]);
  size_t n = c < 0xfb ? 0 : c == 0xfc ? 2 : c == 0xfd ? 3 : c == 0xfe ? 8 : 0;
  if (c == 0xfb || c == 0xff) return false;
  if (*i + 1 + n > p.size()) return false;
  *v = n ? 0 : c;
  for (size_t k = 0; k < n; k++) *v |= uint64_t(static_cast<uint8_t>(p[*i + 1 + k])) << (8 * k);
  *i += 1 + n;
  return true;
}

class MysqlParser final : public Parser {
 public:
  size_t memory() const override {
    return heap_bytes(c_.head) + heap_bytes(c_.payload) + heap_bytes(s_.head) + heap_bytes(s_.payload) +
           heap_bytes(error_text_) + pending_.size() * (sizeof(Pending) + 2 * kMaxRaw) + statements_.bytes();
  }
  void feed(Side side, std::string_view data, uint64_t ts, std::vector<Record>* out) override {
    Stream& s = side == Side::kClient ? c_ : s_;
    if (side == Side::kServer && server_wait_) return;  // lost: until the next command
    size_t pos = 0;
    while (pos < data.size()) {
      if (!s.in_packet) {
        size_t n = std::min(4 - s.head.size(), data.size() - pos);
        s.head.append(data.substr(pos, n));
        pos += n;
        if (s.head.size() < 4) continue;
        auto u = reinterpret_cast<const uint8_t*>(s.head.data());
        s.left = u[0] | (uint32_t(u[1]) << 8) | (uint32_t(u[2]) << 16);
        s.seq = u[3];
        s.head.clear();
        s.in_packet = true;
        s.payload.clear();
        s.bytes += 4 + s.left;
        if (s.left == 0) {
          packet(side, s, ts, out);
          continue;
        }
      }
      size_t take = std::min<uint64_t>(s.left, data.size() - pos);
      if (s.payload.size() < kKeep) s.payload.append(data.substr(pos, std::min(take, kKeep - s.payload.size())));
      pos += take;
      s.left -= take;
      if (s.left == 0) packet(side, s, ts, out);
      if (side == Side::kServer && server_wait_) return;
    }
  }

  void gap(Side side, uint64_t n, uint64_t ts, std::vector<Record>* out) override {
    if (n == 0) return;
    Stream& s = side == Side::kClient ? c_ : s_;
    if (s.in_packet && s.left >= n) {
      s.left -= n;
      if (s.left == 0) packet(side, s, ts, out);
      return;
    }
    s = Stream{};
    if (side == Side::kServer) lose_response(out);  // counted there
    else stats_.resyncs++;
  }

  void close(uint64_t, std::vector<Record>* out) override {
    while (!pending_.empty()) unanswered(out);
  }

 private:
  struct Stream {
    std::string head, payload;
    bool in_packet = false;
    uint64_t left = 0;
    uint8_t seq = 0;
    uint64_t bytes = 0;
  };
  enum class Rs { kFirst, kColumns, kColumnsEof, kRows, kPrepareParams, kPrepareColumns };
  struct Pending {
    Request req;
    uint8_t cmd;
    std::string sql;  // a PREPARE's text, kept by the statement id its answer gives
  };

  void packet(Side side, Stream& s, uint64_t ts, std::vector<Record>* out) {
    s.in_packet = false;
    std::string_view p = s.payload;
    if (side == Side::kClient) {
      client_packet(s, p, ts, out);
      return;
    }
    if (pending_.empty() || handshake_) {  // the greeting and authentication rounds
      if (!pending_.empty() || p.empty()) return;
      s.bytes = 0;
      return;
    }
    uint8_t first = p.empty() ? 0 : static_cast<uint8_t>(p[0]);
    bool eof = first == 0xfe && p.size() < 9;
    switch (rs_) {
      case Rs::kFirst:
        if (first == 0xff) {  // ERR: code, '#', sqlstate, message
          error_ = true;
          size_t at = p.size() > 3 && p[3] == '#' ? 9 : 3;
          if (p.size() > at) error_text_ = bounded(p.substr(at));
          return finish(ts, out);
        }
        if (first == 0x00 && pending_.front().cmd == 0x16 && p.size() >= 12) {  // PREPARE OK
          uint32_t id = uint8_t(p[1]) | uint32_t(uint8_t(p[2])) << 8 | uint32_t(uint8_t(p[3])) << 16 | uint32_t(uint8_t(p[4])) << 24;
          columns_ = uint8_t(p[5]) | uint16_t(uint8_t(p[6])) << 8;
          params_ = uint8_t(p[7]) | uint16_t(uint8_t(p[8])) << 8;
          statements_.put(id, pending_.front().sql);
          if (!params_ && !columns_) return finish(ts, out);
          rs_ = params_ ? Rs::kPrepareParams : Rs::kPrepareColumns;
          left_ = params_ ? params_ : columns_;
          return;
        }
        if (first == 0x00 || (first == 0xfe && p.size() >= 7)) {  // OK: affected rows
          size_t i = 1;
          uint64_t affected = 0;
          if (lenenc(p, &i, &affected)) rows_ = static_cast<int64_t>(affected);
          return finish(ts, out);
        }
        if (eof) return finish(ts, out);
        {  // a result set: the column count
          size_t i = 0;
          uint64_t n = 0;
          if (!lenenc(p, &i, &n) || n == 0) return lose_response(out);
          left_ = n;
          rows_ = 0;
          rs_ = Rs::kColumns;
        }
        return;
      case Rs::kColumns:
        if (--left_ == 0) rs_ = deprecate_eof_ ? Rs::kRows : Rs::kColumnsEof;
        return;
      case Rs::kColumnsEof:
        rs_ = Rs::kRows;
        if (!eof) rows_++;  // the server does not send the column EOF after all
        return;
      case Rs::kRows:
        if (first == 0xff) {
          error_ = true;
          return finish(ts, out);
        }
        if ((first == 0xfe && p.size() < 0xffffff && (eof || deprecate_eof_))) return finish(ts, out);
        rows_++;
        return;
      case Rs::kPrepareParams:
      case Rs::kPrepareColumns:
        // Definitions, each group followed by an EOF unless deprecated.
        if (eof) {
          if (rs_ == Rs::kPrepareParams && columns_) rs_ = Rs::kPrepareColumns, left_ = columns_;
          else finish(ts, out);
          return;
        }
        if (--left_ == 0 && deprecate_eof_) {
          if (rs_ == Rs::kPrepareParams && columns_) rs_ = Rs::kPrepareColumns, left_ = columns_;
          else finish(ts, out);
        }
        return;
    }
  }

  void client_packet(Stream& s, std::string_view p, uint64_t ts, std::vector<Record>* out) {
    if (s.seq != 0) {  // the handshake response (seq 1) and authentication rounds
      if (s.seq == 1 && p.size() >= 4) {
        uint32_t caps = uint8_t(p[0]) | uint32_t(uint8_t(p[1])) << 8 | uint32_t(uint8_t(p[2])) << 16 | uint32_t(uint8_t(p[3])) << 24;
        deprecate_eof_ = caps & kDeprecateEof;
        handshake_ = true;
      }
      s.bytes = 0;
      return;
    }
    handshake_ = false;
    server_wait_ = false;
    if (p.empty()) return;
    uint8_t cmd = static_cast<uint8_t>(p[0]);
    std::string_view arg = p.substr(1);
    uint64_t bytes = s.bytes;
    s.bytes = 0;
    std::string sql, method;
    switch (cmd) {
      case 0x01: return;  // COM_QUIT: no response
      case 0x19: case 0x18: return;  // STMT_CLOSE, SEND_LONG_DATA: no response
      case 0x03: sql.assign(arg); method = sql_verb(arg); break;
      case 0x16: sql.assign(arg); method = "PREPARE"; break;
      case 0x17: {
        uint32_t id = arg.size() >= 4 ? uint8_t(arg[0]) | uint32_t(uint8_t(arg[1])) << 8 | uint32_t(uint8_t(arg[2])) << 16 |
                                            uint32_t(uint8_t(arg[3])) << 24
                                      : 0;
        const std::string* known = statements_.find(id);
        sql = known ? *known : "";
        method = sql.empty() ? "EXECUTE" : sql_verb(sql);
        break;
      }
      case 0x0e: method = "PING"; break;
      case 0x02: method = "USE"; sql = "USE " + std::string(arg); break;
      case 0x1a: method = "STMT_RESET"; break;
      case 0x11: method = "CHANGE_USER"; break;
      default: method = "COM_" + std::to_string(cmd); break;
    }
    pending_.push_back({sql_request(sql, std::move(method), ts, bytes), cmd, cmd == 0x16 ? sql : std::string()});
    if (pending_.size() > kMaxPending) unanswered(out);
    s_.bytes = 0;
    rs_ = Rs::kFirst;
  }

  void finish(uint64_t ts, std::vector<Record>* out) {
    Record r = std::move(pending_.front().req).finish(ts, s_.bytes);
    r.error = error_;
    r.error_text = std::move(error_text_);
    r.rows = error_ ? -1 : rows_;
    out->push_back(std::move(r));
    pending_.pop_front();
    reset_response();
  }

  void reset_response() {
    s_.bytes = 0;
    rs_ = Rs::kFirst;
    error_ = false;
    error_text_.clear();
    rows_ = -1;
  }

  void lose_response(std::vector<Record>* out) {
    stats_.resyncs++;
    if (!pending_.empty()) unanswered(out);
    reset_response();
    s_ = Stream{};
    server_wait_ = true;
  }

  void unanswered(std::vector<Record>* out) {
    out->push_back(std::move(pending_.front().req).finish(0, 0));
    pending_.pop_front();
  }

  Stream c_, s_;
  std::deque<Pending> pending_;
  Statements<uint32_t> statements_;
  Rs rs_ = Rs::kFirst;
  uint64_t left_ = 0;
  uint16_t columns_ = 0, params_ = 0;
  bool deprecate_eof_ = false, handshake_ = false, server_wait_ = false, error_ = false;
  std::string error_text_;
  int64_t rows_ = -1;
};

}  // namespace

std::unique_ptr<Parser> make_mysql_parser() { return std::make_unique<MysqlParser>(); }

}  // namespace sightline::protocols
