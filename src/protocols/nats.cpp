// NATS's client protocol (docs.nats.io, "Client Protocol"): CRLF-terminated operations, payloads
// counted by the line before them. A message is a record of its own, not an exchange: PUB and
// HPUB (the client publishes: method PUB), MSG and HMSG (the server delivers to a subscriber:
// method MSG, `delivery`: its service-map edge runs from the server to this client), SUB (a
// subscription). Target: the subject with id-like tokens as placeholders (orders.{id}.created);
// raw: the operation and its subject as sent. -ERR is an error record with its text. A client that
// asked for verbose mode gets +OK after each operation: those are counted, not records. INFO,
// CONNECT, PING, PONG and UNSUB are the connection's housekeeping: no records.
// Request-reply: a PUB with a reply subject is a request (method REQ) that the MSG delivered on
// that subject answers, on the same connection (the requester subscribes to its inbox): one
// record, its latency the reply's wait, the reply not a record of its own. At most kMaxPending
// wait per connection; the oldest past it, those older than kPendingNs and those left at close
// are requests without a response.
#include <cctype>
#include <deque>

#include "protocols/protocol.h"

namespace sightline::protocols {
namespace {

// A control line past 4 KiB is garbage (subjects are short; the server's limit is 4 KiB).
constexpr size_t kMaxLine = 4096;
constexpr size_t kMaxPending = 256;
constexpr uint64_t kPendingNs = 60'000'000'000ULL;

// A subject as a target: id-like tokens as placeholders; a reply inbox (_INBOX.<nuid>.<token>,
// one per request) as _INBOX.{inbox}, whatever follows: random tokens are no series.
std::string subject_target(std::string_view subject) {
  if (subject.starts_with("_INBOX.")) return "_INBOX.{inbox}";
  return normalize_tokens(subject, '.');
}

class NatsParser final : public Parser {
 public:
  size_t memory() const override {
    size_t n = c_.reader.memory() + s_.reader.memory() + heap_bytes(c_.op.raw) + heap_bytes(s_.op.raw);
    for (const auto& p : pending_) n += sizeof(p) + heap_bytes(p.reply) + heap_bytes(p.req.raw) + heap_bytes(p.req.target);
    return n;
  }

  void feed(Side side, std::string_view data, uint64_t ts, std::vector<Record>* out) override {
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
      if (got == LineReader::Got::kPayload) {
        done(s, ts, out);
      } else if (got == LineReader::Got::kBad) {
        lose(s);
      } else if (got == LineReader::Got::kLine) {
        if (!operation(side, s, s.reader.line(), ts, out)) lose(s);
      }
    }
  }

  void gap(Side side, uint64_t n, uint64_t ts, std::vector<Record>* out) override {
    if (n == 0) return;
    Stream& s = side == Side::kClient ? c_ : s_;
    if (!s.reader.skip(n)) return lose(s);
    s.bytes += n;
    if (!s.reader.in_payload()) done(s, ts, out);
  }

  void close(uint64_t, std::vector<Record>* out) override {
    while (!pending_.empty()) unanswered(out);
  }

 private:
  // A message whose payload is still to come.
  struct Op {
    std::string method, raw, target;
    bool delivery = false;
    std::string subject;  // MSG: its subject (a reply's is the request's reply subject)
    std::string reply;    // PUB: its reply subject, if any (a request)
  };
  struct Pending {
    std::string reply;
    Request req;
  };
  struct Stream {
    LineReader reader{kMaxLine};
    Op op;
    uint64_t start_ns = 0, bytes = 0;
    bool active = false;
    bool resync = false;  // lost: lines are skipped until one that starts an operation
  };

  // One control line. PUB <subject> [reply-to] <#bytes>, HPUB <subject> [reply-to] <#header
  // bytes> <#total bytes>, MSG <subject> <sid> [reply-to] <#bytes>, HMSG ... <#hdr> <#total>.
  bool operation(Side side, Stream& s, std::string_view line, uint64_t ts, std::vector<Record>* out) {
    auto w = split_words(line, 6);
    if (w.empty()) return s.resync;
    std::string_view op = w[0];
    auto is = [&](std::string_view name) {
      if (op.size() != name.size()) return false;
      for (size_t i = 0; i < op.size(); i++)  // operations are case-insensitive
        if (toupper(static_cast<unsigned char>(op[i])) != name[i]) return false;
      return true;
    };
    bool pub = side == Side::kClient && (is("PUB") || is("HPUB"));
    bool msg = side == Side::kServer && (is("MSG") || is("HMSG"));
    if (pub || msg) {
      bool headers = op.size() == 4;
      size_t fixed = (msg ? 3 : 2) + headers;  // the words before an optional reply-to, with the count(s)
      uint64_t n = 0;
      if (w.size() < fixed + 1 || w.size() > fixed + 2 || !parse_decimal(w.back(), &n) || n > (64u << 20)) return false;
      s.resync = false;
      s.op = {pub ? "PUB" : "MSG", bounded(std::string(pub ? "PUB " : "MSG ") + std::string(w[1])), subject_target(w[1]), msg};
      if (msg && !pending_.empty()) s.op.subject = bounded(w[1]);
      if (pub && w.size() == fixed + 2) s.op.reply = bounded(w[2]);
      s.reader.expect(n + 2);
      return true;
    }
    if (side == Side::kClient && is("SUB") && (w.size() == 3 || w.size() == 4)) {
      s.resync = false;
      s.op = {"SUB", bounded("SUB " + std::string(w[1])), subject_target(w[1]), false};
      done(s, ts, out);
      return true;
    }
    if (side == Side::kServer && is("-ERR")) {
      s.resync = false;
      Record r = Request{"ERR", bounded(line), "ERR", s.start_ns, s.bytes}.finish(ts, 0);
      r.error = true;
      std::string_view text = line.substr(std::min(line.size(), size_t{5}));
      if (text.size() >= 2 && text.front() == '\'' && text.back() == '\'') text = text.substr(1, text.size() - 2);
      r.error_text = bounded(text);
      out->push_back(std::move(r));
      s.active = false;
      return true;
    }
    for (std::string_view h : {"INFO", "CONNECT", "PING", "PONG", "UNSUB", "+OK"})
      if (is(h)) {
        s.resync = false;
        s.active = false;
        return true;
      }
    return s.resync;  // while resyncing, lines are skipped; else garbage
  }

  // A message (its payload and CRLF included) or a subscription is whole: its record.
  void done(Stream& s, uint64_t ts, std::vector<Record>* out) {
    while (!pending_.empty() && ts > pending_.front().req.start_ns + kPendingNs) unanswered(out);
    Request req{std::move(s.op.method), std::move(s.op.raw), std::move(s.op.target), s.start_ns, s.bytes};
    if (!s.op.reply.empty()) {  // a request: its record when the reply comes
      if (pending_.size() >= kMaxPending) unanswered(out);
      req.method = "REQ";
      pending_.push_back({std::move(s.op.reply), std::move(req)});
    } else if (auto it = reply_to(s.op.subject); it != pending_.end()) {  // the reply
      out->push_back(std::move(it->req).finish(ts, s.bytes));
      pending_.erase(it);
    } else {
      Record r = std::move(req).finish(ts, 0);
      r.delivery = s.op.delivery;
      out->push_back(std::move(r));
    }
    s.op = {};
    s.active = false;
  }

  std::deque<Pending>::iterator reply_to(const std::string& subject) {
    if (subject.empty()) return pending_.end();
    for (auto it = pending_.begin(); it != pending_.end(); ++it)
      if (it->reply == subject) return it;
    return pending_.end();
  }

  void unanswered(std::vector<Record>* out) {
    out->push_back(std::move(pending_.front().req).finish(0, 0));
    pending_.pop_front();
  }

  void lose(Stream& s) {
    stats_.resyncs++;
    stats_.skipped_bytes += s.reader.buffered();
    s = Stream{};
    s.resync = true;
  }

  Stream c_, s_;
  std::deque<Pending> pending_;  // requests waiting for their reply, oldest first
};

}  // namespace

std::unique_ptr<Parser> make_nats_parser() { return std::make_unique<NatsParser>(); }

}  // namespace sightline::protocols
