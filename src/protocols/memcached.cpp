// Memcached's text protocol (protocol.txt in memcached's sources): one command line per request,
// storage commands followed by their data block (counted, never buffered: a gap inside one is
// skipped exactly), answers in order. Retrievals (get, gets, gat, gats) answer VALUE blocks and
// END: a hit when a value came (rows: the values), a miss when none. noreply commands get no
// answer: their record ends at the command. ERROR, CLIENT_ERROR and SERVER_ERROR answers are
// errors (NOT_FOUND, NOT_STORED, EXISTS are answers, not failures). Method: the command upper
// case; raw: the command and its first key. Retrievals' status: 1 a hit, 2 a miss.
//
// The binary protocol (deprecated by memcached 1.6, still spoken by libmemcached's --binary and
// older clients): 24-byte headers, a body of extras, key and value (values are counted, never
// kept), answers matched by the opaque the request chose. Quiet commands (getq, getkq, setq ...)
// are answered only on a hit or an error: a later answer (usually a noop's) completes them, a
// getq as a miss and a setq as done. A connection speaks one or the other, by its first byte.
#include <cctype>
#include <deque>
#include <utility>

#include "protocols/protocol.h"

namespace sightline::protocols {
namespace {

constexpr size_t kMaxLine = 2048;  // a command line longer is garbage (keys are <= 250 bytes)

enum class Kind { kNone, kStorage, kRetrieval, kOther };

Kind kind_of(std::string_view cmd) {
  for (std::string_view s : {"set", "add", "replace", "append", "prepend", "cas"})
    if (cmd == s) return Kind::kStorage;
  for (std::string_view s : {"get", "gets", "gat", "gats"})
    if (cmd == s) return Kind::kRetrieval;
  for (std::string_view s : {"delete", "incr", "decr", "touch", "stats", "flush_all", "version", "verbosity", "quit",
                             "mn", "mg", "ms", "md", "ma", "me", "cache_memlimit", "shutdown", "misbehave"})
    if (cmd == s) return Kind::kOther;
  // A command this parser does not know (the server answers ERROR): a word of lower-case letters.
  bool word = !cmd.empty() && cmd.size() <= 32;
  for (char c : cmd) word &= (c >= 'a' && c <= 'z') || c == '_';
  return word ? Kind::kOther : Kind::kNone;
}

class MemcachedParser final : public Parser {
 public:
  size_t memory() const override {
    return c_.reader.memory() + s_.reader.memory() + heap_bytes(cb_.head) + heap_bytes(sb_.head) +
           pending_.size() * (kPendingBytes + sizeof(Wait));
  }

  void feed(Side side, std::string_view data, uint64_t ts, std::vector<Record>* out) override {
    if (data.empty()) return;
    if (mode_ == Mode::kUnknown) mode_ = (data[0] == kReqMagic || data[0] == kResMagic) ? Mode::kBinary : Mode::kText;
    if (mode_ == Mode::kBinary) return feed_binary(side, data, ts, out);
    Stream& s = side == Side::kClient ? c_ : s_;
    size_t pos = 0;
    while (pos < data.size()) {
      if (!s.active) {
        s.active = true;
        s.start_ns = ts;
        s.bytes = 0;
      }
      size_t before = pos;
      auto got = s.reader.next(data, &pos);
      s.bytes += pos - before;
      if (got == LineReader::Got::kPayload) {  // a data block and its CRLF
        block_done(side, s, ts, out);
      } else if (got == LineReader::Got::kBad) {
        lose(side, s, out);
      } else if (got == LineReader::Got::kLine) {
        const std::string& line = s.reader.line();
        if (side == Side::kClient ? !command(s, line, ts, out) : !answer(s, line, ts, out)) lose(side, s, out);
      }
    }
  }

  void gap(Side side, uint64_t n, uint64_t ts, std::vector<Record>* out) override {
    if (n == 0) return;
    if (mode_ == Mode::kBinary) {
      Bin& b = side == Side::kClient ? cb_ : sb_;
      if (b.parsed && b.value >= n) {  // inside a value: skipped exactly
        b.value -= n;
        b.bytes += n;
        if (b.value == 0) binary_done(side, b, ts, out);
      } else {
        lose_binary(side, b, out);
      }
      return;
    }
    Stream& s = side == Side::kClient ? c_ : s_;
    if (s.reader.skip(n)) {
      s.bytes += n;
      if (!s.reader.in_payload()) block_done(side, s, ts, out);
      return;
    }
    lose(side, s, out);
  }

  void close(uint64_t, std::vector<Record>* out) override {
    while (!pending_.empty()) unanswered(out);
  }

 private:
  struct Stream {
    LineReader reader{kMaxLine};  // command lines, data blocks (their CRLF included)
    uint64_t seq = 0;   // the command the line or block belongs to
    uint64_t start_ns = 0, bytes = 0;
    bool active = false;
    bool resync = false;  // looking for a line that starts a message
  };
  struct Wait {
    Kind kind = Kind::kOther;
    bool noreply = false;  // text: no answer comes; binary: a quiet command (an answer may come)
    uint32_t opaque = 0;   // binary: the id its answer carries
    uint64_t seq = 0;      // text: which command a data block completes (it may be gone: answered, flushed)
  };

  static constexpr char kReqMagic = '\x80', kResMagic = '\x81';
  static constexpr uint8_t kQuit = 0x07, kQuitQ = 0x17;
  enum class Mode : uint8_t { kUnknown, kText, kBinary };
  // One side's binary message under way: its header, extras and key kept, its value counted.
  struct Bin {
    std::string head;
    size_t want = 24;    // bytes of head to gather (the header, then its extras and key)
    uint64_t value = 0;  // value bytes still to come
    uint64_t start_ns = 0, bytes = 0;
    bool active = false, parsed = false;
    bool resync = false;  // lost: waiting for a read that starts with a header
  };

  static uint32_t be(std::string_view b, size_t off, size_t n) {
    uint32_t v = 0;
    for (size_t i = 0; i < n; i++) v = v << 8 | static_cast<uint8_t>(b[off + i]);
    return v;
  }

  // An opcode's name, its kind and whether it is quiet (the binary protocol's opcode table).
  static bool opcode(uint8_t op, std::string_view* name, Kind* kind, bool* quiet) {
    struct Op {
      std::string_view name;
      Kind kind;
      bool quiet;
    };
    static constexpr Op kOps[0x23] = {
        {"GET", Kind::kRetrieval, false},     {"SET", Kind::kStorage, false},       {"ADD", Kind::kStorage, false},
        {"REPLACE", Kind::kStorage, false},   {"DELETE", Kind::kOther, false},      {"INCR", Kind::kOther, false},
        {"DECR", Kind::kOther, false},        {"QUIT", Kind::kOther, false},        {"FLUSH_ALL", Kind::kOther, false},
        {"GET", Kind::kRetrieval, true},      {"NOOP", Kind::kOther, false},        {"VERSION", Kind::kOther, false},
        {"GET", Kind::kRetrieval, false},     {"GET", Kind::kRetrieval, true},      {"APPEND", Kind::kStorage, false},
        {"PREPEND", Kind::kStorage, false},   {"STATS", Kind::kOther, false},       {"SET", Kind::kStorage, true},
        {"ADD", Kind::kStorage, true},        {"REPLACE", Kind::kStorage, true},    {"DELETE", Kind::kOther, true},
        {"INCR", Kind::kOther, true},         {"DECR", Kind::kOther, true},         {"QUIT", Kind::kOther, true},
        {"FLUSH_ALL", Kind::kOther, true},    {"APPEND", Kind::kStorage, true},     {"PREPEND", Kind::kStorage, true},
        {"VERBOSITY", Kind::kOther, false},   {"TOUCH", Kind::kOther, false},       {"GAT", Kind::kRetrieval, false},
        {"GAT", Kind::kRetrieval, true},      {"", Kind::kNone, false},             {"SASL_LIST", Kind::kOther, false},
        {"SASL_AUTH", Kind::kOther, false},   {"SASL_STEP", Kind::kOther, false},
    };
    if (op >= std::size(kOps) || kOps[op].name.empty()) {
      *name = "UNKNOWN";
      *kind = Kind::kOther;
      *quiet = false;
      return false;
    }
    *name = kOps[op].name;
    *kind = kOps[op].kind;
    *quiet = kOps[op].quiet;
    return true;
  }

  void feed_binary(Side side, std::string_view data, uint64_t ts, std::vector<Record>* out) {
    Bin& b = side == Side::kClient ? cb_ : sb_;
    char magic = side == Side::kClient ? kReqMagic : kResMagic;
    size_t pos = 0;
    if (b.resync) {  // a read that starts with a header ends a resync
      if (data.size() < 24 || data[0] != magic || data[5] != 0) {
        stats_.skipped_bytes += data.size();
        return;
      }
      b = Bin{};
    }
    while (pos < data.size()) {
      if (!b.active) b = Bin{.start_ns = ts, .active = true};
      if (b.head.size() < b.want) {
        size_t n = std::min(b.want - b.head.size(), data.size() - pos);
        b.head.append(data.substr(pos, n));
        pos += n;
        b.bytes += n;
        if (b.head.size() < b.want) return;
      }
      if (!b.parsed) {  // the header: its body is extras, key, value
        uint32_t key = be(b.head, 2, 2), extras = static_cast<uint8_t>(b.head[4]), body = be(b.head, 8, 4);
        if (b.head[0] != magic || b.head[5] != 0 || extras + key > body) return lose_binary(side, b, out);
        b.parsed = true;
        b.want = 24 + extras + key;
        b.value = body - extras - key;
        // An error's value is its message: the first of it is kept.
        if (side == Side::kServer && error_status(be(b.head, 6, 2))) {
          uint64_t keep = std::min<uint64_t>(b.value, kMaxRaw);
          b.want += keep;
          b.value -= keep;
        }
        if (b.head.size() < b.want) continue;
      }
      uint64_t n = std::min<uint64_t>(b.value, data.size() - pos);
      pos += n;
      b.value -= n;
      b.bytes += n;
      if (b.value == 0) binary_done(side, b, ts, out);
    }
  }

  // Not failures: a miss (1), a key that exists (2), an item not stored (5).
  static bool error_status(uint32_t st) { return st != 0 && st != 1 && st != 2 && st != 5; }

  void binary_done(Side side, Bin& b, uint64_t ts, std::vector<Record>* out) {
    std::string_view h = b.head;
    uint8_t op = static_cast<uint8_t>(h[1]);
    uint32_t key = be(h, 2, 2), extras = static_cast<uint8_t>(h[4]), opaque = be(h, 12, 4);
    b.active = false;
    std::string_view name;
    Kind kind;
    bool quiet;
    bool known = opcode(op, &name, &kind, &quiet);
    if (side == Side::kClient) {
      std::string method(name), raw = method;
      if (key) raw += " " + std::string(h.substr(24 + extras, key));
      if (op == kQuit || op == kQuitQ) {  // done at the command: clients close without reading an answer
        Record r = Request{method, raw, method, b.start_ns, b.bytes}.finish(b.start_ns, 0);
        out->push_back(std::move(r));
        return;
      }
      pending_.push_back({Request{method, bounded(raw), method, b.start_ns, b.bytes}, {kind, quiet, opaque}});
      if (pending_.size() > kMaxPending) unanswered(out);
      release_if_large(b.head);
      return;
    }
    uint32_t status = be(h, 6, 2);
    if (op == kQuit) return;  // its command was done when sent
    answer_bytes_ += b.bytes;
    if (op == 0x10 && key && status == 0) return;  // a statistic; the one with no key ends them
    uint64_t bytes = std::exchange(answer_bytes_, 0);
    // Quiet commands before the one answered got no answer: done (a getq: a miss).
    while (!pending_.empty() && pending_.front().second.opaque != opaque && pending_.front().second.noreply) {
      auto& [req, wait] = pending_.front();
      Record r = std::move(req).finish(ts, 0);
      if (wait.kind == Kind::kRetrieval) r.status = 2, r.rows = 0;
      out->push_back(std::move(r));
      pending_.pop_front();
    }
    if (pending_.empty() || pending_.front().second.opaque != opaque) {
      stats_.orphans++;
      return;
    }
    auto& [req, wait] = pending_.front();
    Record r = std::move(req).finish(ts, bytes);
    r.error = !known || error_status(status);
    if (r.error) r.error_text = bounded(h.substr(24 + extras + key));
    if (wait.kind == Kind::kRetrieval && !r.error) {
      r.status = status == 0 ? 1 : 2;
      r.rows = status == 0;
    }
    out->push_back(std::move(r));
    pending_.pop_front();
    release_if_large(b.head);
  }

  void lose_binary(Side side, Bin& b, std::vector<Record>* out) {
    stats_.resyncs++;
    stats_.skipped_bytes += b.head.size();
    b = Bin{.resync = true};
    if (side == Side::kServer) answer_bytes_ = 0;
    if (side == Side::kServer)
      while (!pending_.empty()) unanswered(out);
  }

  // A command line. A storage command's data follows (then it waits for its answer).
  bool command(Stream& s, std::string_view line, uint64_t, std::vector<Record>* out) {
    auto w = split_words(line);
    if (w.empty()) return false;
    Kind k = kind_of(w[0]);
    if (k == Kind::kNone) return s.resync;  // while resyncing, lines are skipped; else garbage
    s.resync = false;
    std::string method(w[0]);
    for (char& c : method) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
    std::string raw = method;
    size_t key = (w[0] == "gat" || w[0] == "gats") ? 2 : 1;
    if (w.size() > key) raw += " " + std::string(w[key]);
    bool noreply = (w.size() > 1 && w.back() == "noreply") || w[0] == "quit";  // quit: the server closes
    if (k == Kind::kStorage) {
      uint64_t n = 0;
      if (w.size() < 5 || !parse_decimal(w[4], &n)) return false;
      s.reader.expect(n + 2);
    }
    s.seq = ++seq_;
    pending_.push_back({Request{method, bounded(raw), method, s.start_ns, 0}, {k, noreply, 0, s.seq}});
    if (k != Kind::kStorage) command_done(s, out);
    return true;
  }

  void block_done(Side side, Stream& s, uint64_t ts, std::vector<Record>* out) {
    if (side == Side::kClient) return command_done(s, out);
    s.active = true;  // a VALUE's data: the answer goes on to END
    (void)ts;
  }

  // The command (and its data) is whole: its bytes known; noreply ones are done.
  void command_done(Stream& s, std::vector<Record>* out) {
    s.active = false;
    if (pending_.empty() || pending_.back().second.seq != s.seq) return;  // answered or flushed meanwhile
    auto& [req, wait] = pending_.back();
    req.bytes = s.bytes;
    if (wait.noreply) {
      Record r = std::move(req).finish(s.start_ns, 0);
      r.no_response = false;  // none was asked for
      out->push_back(std::move(r));
      pending_.pop_back();
    } else if (pending_.size() > kMaxPending) {
      unanswered(out);
    }
  }

  // An answer line: VALUE (data follows), END, a status word, a number (incr/decr), STAT ...
  bool answer(Stream& s, std::string_view line, uint64_t ts, std::vector<Record>* out) {
    auto w = split_words(line, 5);
    if (w.empty()) return false;
    if (s.resync) {  // only a whole answer's last line ends a resync
      if (w[0] == "END" || w[0] == "STORED" || w[0] == "DELETED" || w[0] == "NOT_FOUND") s.resync = false;
      s.active = false;
      return true;
    }
    if (pending_.empty()) {
      stats_.orphans++;
      s.active = false;
      return true;
    }
    Wait& wait = pending_.front().second;
    if (w[0] == "VALUE") {  // VALUE <key> <flags> <bytes> [<cas>]
      uint64_t n = 0;
      if (w.size() < 4 || !parse_decimal(w[3], &n)) return false;
      s.reader.expect(n + 2);
      values_++;
      return true;
    }
    if (w[0] == "STAT") return true;  // stats: lines up to END
    bool error = w[0] == "ERROR" || w[0] == "CLIENT_ERROR" || w[0] == "SERVER_ERROR";
    std::string error_text = error && line.size() > w[0].size() ? bounded(line.substr(w[0].size() + 1)) : std::string();
    auto& [req, _] = pending_.front();
    Record r = std::move(req).finish(ts, s.bytes);
    r.error = error;
    r.error_text = std::move(error_text);
    if (wait.kind == Kind::kRetrieval && !error) {
      r.rows = static_cast<int64_t>(values_);
      r.status = values_ ? 1 : 2;  // a hit, a miss
    }
    out->push_back(std::move(r));
    pending_.pop_front();
    values_ = 0;
    s.active = false;
    return true;
  }

  void unanswered(std::vector<Record>* out) {
    out->push_back(std::move(pending_.front().first).finish(0, 0));
    pending_.pop_front();
  }

  void lose(Side side, Stream& s, std::vector<Record>* out) {
    stats_.resyncs++;
    stats_.skipped_bytes += s.reader.buffered();
    s = Stream{};
    s.resync = true;
    values_ = 0;
    if (side == Side::kServer)
      while (!pending_.empty()) unanswered(out);
  }

  Mode mode_ = Mode::kUnknown;
  Stream c_, s_;
  Bin cb_, sb_;
  std::deque<std::pair<Request, Wait>> pending_;
  uint64_t values_ = 0;  // VALUE blocks of the answer under way
  uint64_t seq_ = 0;
  uint64_t answer_bytes_ = 0;  // binary: bytes of the answer under way (stats come in many messages)
};

}  // namespace

std::unique_ptr<Parser> make_memcached_parser() { return std::make_unique<MemcachedParser>(); }

}  // namespace sightline::protocols
