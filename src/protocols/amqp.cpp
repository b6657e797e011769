// AMQP 0-9-1 (the specification's frames and classes; RabbitMQ): frames of a type (1 method,
// 2 content header, 3 body, 8 heartbeat), a channel, a size, the payload and the end byte 0xCE.
// Records:
// - messages, a record each when their content (header and body frames) is whole: PUBLISH from
//   a publisher, DELIVER to a consumer (`delivery`: its service-map edge runs server -> client),
//   RETURN (an unroutable mandatory message sent back: an error, status its reply code); the
//   target is the exchange and routing key (`orders`, `events:user.{id}.created`);
// - ACK, NACK, REJECT: one-way, from whichever side sends them (a broker's publisher confirms
//   are deliveries);
// - the synchronous methods a client calls (QUEUE.DECLARE, EXCHANGE.DECLARE, QUEUE.BIND, CONSUME,
//   GET ...): a request answered on its channel by the method's -Ok (GET: Get-Ok with its
//   message, rows 1, or Get-Empty, rows 0), or failed by the broker's Channel.Close (status its
//   reply code, 404, 406 ..., and its text); no-wait ones are one-way;
// - a broker's Connection.Close with a code other than 200: an error.
// The connection's handshake (Connection.Start ... Open) and channel housekeeping are not records.
// A message's traceparent (its content header's headers table) is its record's trace context, so
// a producer's PUBLISH and a consumer's DELIVER join the producer's trace.
// Bodies are counted, never kept; method and header frames are bounded (kMaxFrame).
#include <algorithm>
#include <map>

#include "protocols/protocol.h"

namespace sightline::protocols {
namespace {

constexpr size_t kMaxFrame = 64 * 1024;  // a method or header frame larger is garbage (RabbitMQ's frame_max is 128 KiB, but these are small)
constexpr size_t kMaxChannels = 256;     // channels with a message or call under way

// What a method frame's arguments are, for the ones that make records.
enum class Kind : uint8_t { kIgnore, kCall, kPublish, kDeliver, kReturn, kGetOk, kGetEmpty, kAck, kReply, kChannelClose, kConnectionClose };
struct Method {
  uint16_t cls, id;
  const char* name;
  Kind kind;
  uint8_t strs;      // short strings before the bits (after a reserved short where `reserved`)
  bool reserved;     // the arguments start with a reserved short
  int8_t target;     // which short string is the target (-1: none)
  int8_t nowait;     // the no-wait bit's index in the bits after the strings (-1: none)
};
constexpr Method kMethods[] = {
    {40, 10, "EXCHANGE.DECLARE", Kind::kCall, 2, true, 0, 4},
    {40, 20, "EXCHANGE.DELETE", Kind::kCall, 1, true, 0, 1},
    {40, 30, "EXCHANGE.BIND", Kind::kCall, 3, true, 0, 0},
    {40, 40, "EXCHANGE.UNBIND", Kind::kCall, 3, true, 0, 0},
    {50, 10, "QUEUE.DECLARE", Kind::kCall, 1, true, 0, 4},
    {50, 20, "QUEUE.BIND", Kind::kCall, 3, true, 0, 0},
    {50, 30, "QUEUE.PURGE", Kind::kCall, 1, true, 0, 0},
    {50, 40, "QUEUE.DELETE", Kind::kCall, 1, true, 0, 2},
    {50, 50, "QUEUE.UNBIND", Kind::kCall, 3, true, 0, -1},
    {60, 10, "QOS", Kind::kCall, 0, false, -1, -1},
    {60, 20, "CONSUME", Kind::kCall, 2, true, 0, 3},
    {60, 30, "CANCEL", Kind::kCall, 1, false, 0, 0},
    {60, 40, "PUBLISH", Kind::kPublish, 2, true, -1, -1},
    {60, 50, "RETURN", Kind::kReturn, 0, false, -1, -1},
    {60, 60, "DELIVER", Kind::kDeliver, 0, false, -1, -1},
    {60, 70, "GET", Kind::kCall, 1, true, 0, -1},
    {60, 71, "GET", Kind::kGetOk, 0, false, -1, -1},
    {60, 72, "GET", Kind::kGetEmpty, 0, false, -1, -1},
    {60, 80, "ACK", Kind::kAck, 0, false, -1, -1},
    {60, 90, "REJECT", Kind::kAck, 0, false, -1, -1},
    {60, 110, "RECOVER", Kind::kCall, 0, false, -1, -1},
    {60, 120, "NACK", Kind::kAck, 0, false, -1, -1},
    {85, 10, "CONFIRM.SELECT", Kind::kCall, 0, false, -1, 0},
    {90, 10, "TX.SELECT", Kind::kCall, 0, false, -1, -1},
    {90, 20, "TX.COMMIT", Kind::kCall, 0, false, -1, -1},
    {90, 30, "TX.ROLLBACK", Kind::kCall, 0, false, -1, -1},
    {20, 40, "CHANNEL.CLOSE", Kind::kChannelClose, 0, false, -1, -1},
    {10, 50, "CONNECTION.CLOSE", Kind::kConnectionClose, 0, false, -1, -1},
};

const Method* find_method(uint16_t cls, uint16_t id, bool* reply) {
  *reply = false;
  for (const auto& m : kMethods)
    if (m.cls == cls && m.id == id) return &m;
  // A -Ok: the call's id plus one (Exchange.Unbind-Ok is 51).
  for (const auto& m : kMethods)
    if (m.cls == cls && m.kind == Kind::kCall && (m.id + 1 == id || (cls == 40 && m.id == 40 && id == 51))) {
      *reply = true;
      return &m;
    }
  return nullptr;
}

// Reads a method's arguments: short strings, octets, shorts, long longs.
struct Args {
  std::string_view b;
  size_t pos = 0;
  bool ok = true;
  uint64_t uint(size_t n) {
    if (pos + n > b.size()) {
      ok = false;
      return 0;
    }
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) v = v << 8 | static_cast<uint8_t>(b[pos + i]);
    pos += n;
    return v;
  }
  std::string_view shortstr() {
    size_t n = uint(1);
    if (!ok || pos + n > b.size()) {
      ok = false;
      return {};
    }
    std::string_view s = b.substr(pos, n);
    pos += n;
    return s;
  }
  std::string_view longstr() {
    size_t n = uint(4);
    if (!ok || n > b.size() - pos) {
      ok = false;
      return {};
    }
    std::string_view s = b.substr(pos, n);
    pos += n;
    return s;
  }
};

// A field table's value of `key` when it is a string ('S', a long string): a message's
// headers (traceparent). Other values are skipped by their type's size; a type this does not
// know ends the search (its size is unknown), as does a table cut short.
std::string_view table_string(std::string_view table, std::string_view key) {
  Args t{table};
  while (t.ok && t.pos < table.size()) {
    std::string_view name = t.shortstr();
    char type = static_cast<char>(t.uint(1));
    if (!t.ok) break;
    size_t skip = 0;
    switch (type) {
      case 'S': {
        std::string_view v = t.longstr();
        if (t.ok && name == key) return v;
        continue;
      }
      case 't': case 'b': case 'B': skip = 1; break;
      case 's': case 'u': skip = 2; break;
      case 'I': case 'i': case 'f': skip = 4; break;
      case 'D': skip = 5; break;
      case 'l': case 'L': case 'd': case 'T': skip = 8; break;
      case 'V': skip = 0; break;
      case 'A': case 'F': case 'x': t.longstr(); continue;
      default: return {};
    }
    if (skip > table.size() - t.pos) break;
    t.pos += skip;
  }
  return {};
}

// A content header's properties (after class, weight and body size): the W3C traceparent in
// its headers table, the convention of OpenTelemetry's AMQP instrumentations. The flags say
// which properties follow, in order: content-type and content-encoding (short strings), then
// headers.
TraceContext content_trace(Args a) {
  TraceContext trace;
  uint64_t flags = a.uint(2);
  if (!a.ok || !(flags & 0x2000)) return trace;
  if (flags & 0x8000) a.shortstr();  // content-type
  if (flags & 0x4000) a.shortstr();  // content-encoding
  std::string_view headers = a.longstr();
  if (a.ok) parse_traceparent(table_string(headers, "traceparent"), &trace);
  return trace;
}

// A queue the broker named (RabbitMQ's amq.gen-<22 random characters>: RPC reply queues, one
// per client) is one series, not one each.
std::string_view server_named(std::string_view name) {
  return name.starts_with("amq.gen-") ? std::string_view("amq.gen-{queue}") : name;
}

std::string message_target(std::string_view exchange, std::string_view key) {
  std::string k = key.starts_with("amq.gen-") ? std::string(server_named(key)) : normalize_tokens(key, '.');
  return exchange.empty() ? k : bounded(std::string(exchange) + ":" + k);
}

class AmqpParser final : public Parser {
 public:
  size_t memory() const override {
    size_t n = heap_bytes(side_[0].frame) + heap_bytes(side_[1].frame);
    for (const auto& s : side_) n += s.content.size() * (sizeof(Content) + 64 + kPendingBytes);
    return n + calls_.size() * (kPendingBytes + 64);
  }

  void feed(Side side, std::string_view data, uint64_t ts, std::vector<Record>* out) override {
    Stream& s = side_[side == Side::kServer];
    size_t pos = 0;
    while (pos < data.size()) {
      if (s.resync) {  // a read that starts with a frame (or the protocol header) ends a resync
        if (pos != 0 || !plausible(data)) {
          stats_.skipped_bytes += data.size() - pos;
          return;
        }
        s.resync = false;
      }
      if (s.body > 0) {  // a body frame's payload and end byte: counted
        uint64_t n = std::min<uint64_t>(s.body, data.size() - pos);
        pos += n;
        s.body -= n;
        if (s.body == 0) body_done(side, s, ts, out);
        continue;
      }
      if (s.frame.empty()) s.start_ns = ts;
      size_t want = 7;
      if ((s.frame.empty() ? data[pos] : s.frame[0]) == 'A') want = 8;  // "AMQP" 0 0 9 1
      if (s.frame.size() >= 7 && s.frame[0] != 'A') want = 7 + frame_size(s.frame) + 1;
      size_t n = std::min(want - s.frame.size(), data.size() - pos);
      s.frame.append(data.substr(pos, n));
      pos += n;
      if (s.frame.size() < want) continue;
      if (want == 8 && s.frame[0] == 'A') {  // the protocol header: the client's opening (or a broker's refusal)
        if (s.frame.compare(0, 4, "AMQP") != 0) return lose(side, s, out);
        s.frame.clear();
        continue;
      }
      if (want == 7) {  // a header: its size says what follows
        uint8_t type = static_cast<uint8_t>(s.frame[0]);
        uint64_t size = frame_size(s.frame);
        if (!(type == 1 || type == 2 || type == 3 || type == 8)) return lose(side, s, out);
        if (type == 3) {  // a body: counted, not kept
          s.body_channel = channel(s.frame);
          s.body = size + 1;
          s.body_payload = size;
          s.frame.clear();
          if (auto* c = content(s, s.body_channel)) c->bytes += 7 + size + 1;
          continue;
        }
        if (size > kMaxFrame) return lose(side, s, out);
        continue;
      }
      if (static_cast<uint8_t>(s.frame.back()) != 0xCE) return lose(side, s, out);
      frame(side, s, ts, out);
      s.frame.clear();
      release_if_large(s.frame);
    }
  }

  void gap(Side side, uint64_t n, uint64_t ts, std::vector<Record>* out) override {
    if (n == 0) return;
    Stream& s = side_[side == Side::kServer];
    if (s.body >= n && s.frame.empty()) {  // inside a body: skipped exactly
      s.body -= n;
      if (s.body == 0) body_done(side, s, ts, out);
      return;
    }
    lose(side, s, out);
  }

  void close(uint64_t, std::vector<Record>* out) override {
    for (auto& [ch, call] : calls_) out->push_back(std::move(call).finish(0, 0));
    calls_.clear();
  }

 private:
  // A message whose content (header and body frames) is still to come, on one channel.
  struct Content {
    Request req;
    bool delivery = false, error = false, get = false;
    int32_t status = 0;
    uint64_t body_left = 0, bytes = 0;
    bool header = false;  // its content header came (body_left is known)
  };
  struct Stream {
    std::string frame;              // the frame being gathered: header, payload, end byte
    uint64_t body = 0;              // bytes of a body frame (and its end byte) still to come
    uint64_t body_payload = 0;      // that frame's payload size
    uint16_t body_channel = 0;
    uint64_t start_ns = 0;          // the frame's first byte
    bool resync = false;
    std::map<uint16_t, Content> content;
  };

  static uint64_t frame_size(std::string_view f) {
    return static_cast<uint64_t>(static_cast<uint8_t>(f[3])) << 24 | static_cast<uint64_t>(static_cast<uint8_t>(f[4])) << 16 |
           static_cast<uint64_t>(static_cast<uint8_t>(f[5])) << 8 | static_cast<uint8_t>(f[6]);
  }
  static uint16_t channel(std::string_view f) {
    return static_cast<uint16_t>(static_cast<uint8_t>(f[1]) << 8 | static_cast<uint8_t>(f[2]));
  }
  static bool plausible(std::string_view d) {
    if (d.size() >= 4 && d.substr(0, 4) == "AMQP") return true;
    return d.size() >= 7 && (d[0] == 1 || d[0] == 2 || d[0] == 3 || d[0] == 8) && frame_size(d) <= kMaxFrame;
  }
  Content* content(Stream& s, uint16_t ch) {
    auto it = s.content.find(ch);
    return it == s.content.end() ? nullptr : &it->second;
  }

  // A whole method, content header or heartbeat frame.
  void frame(Side side, Stream& s, uint64_t ts, std::vector<Record>* out) {
    uint8_t type = static_cast<uint8_t>(s.frame[0]);
    uint16_t ch = channel(s.frame);
    std::string_view payload = std::string_view(s.frame).substr(7, s.frame.size() - 8);
    uint64_t bytes = s.frame.size();
    if (type == 8) return;  // a heartbeat
    if (type == 2) {        // a content header: class, weight, body size, properties
      Content* c = content(s, ch);
      if (!c || payload.size() < 12) return;
      Args a{payload, 4};
      c->body_left = a.uint(8);
      c->header = true;
      c->req.trace = content_trace(a);
      c->bytes += bytes;
      if (c->body_left == 0) message_done(side, s, ch, ts, out);
      return;
    }
    Args a{payload};
    uint16_t cls = static_cast<uint16_t>(a.uint(2)), id = static_cast<uint16_t>(a.uint(2));
    bool reply = false;
    const Method* m = find_method(cls, id, &reply);
    if (!m) return;  // the handshake, channel housekeeping, flow
    if (reply) {     // a -Ok answers the call under way on the channel
      if (side == Side::kServer) answer(ch, ts, bytes, 0, {}, -1, out);
      return;
    }
    std::string name = m->name;
    switch (m->kind) {
      case Kind::kCall: {
        if (side != Side::kClient) return;
        if (m->reserved) a.uint(2);
        std::string_view target;
        for (int i = 0; i < m->strs; i++) {
          std::string_view str = a.shortstr();
          if (i == m->target) target = server_named(str);
        }
        uint64_t bits = m->nowait >= 0 ? a.uint(1) : 0;
        Request r{name, bounded(name + (target.empty() ? "" : " " + std::string(target))), bounded(target), s.start_ns, bytes};
        if (!a.ok) return;
        if (m->nowait >= 0 && (bits >> m->nowait & 1)) {  // no answer comes
          out->push_back(std::move(r).finish(ts, 0));
          return;
        }
        if (auto it = calls_.find(ch); it != calls_.end()) {  // a call left unanswered
          out->push_back(std::move(it->second).finish(0, 0));
          calls_.erase(it);
        }
        if (calls_.size() >= kMaxChannels) {
          out->push_back(std::move(calls_.begin()->second).finish(0, 0));
          calls_.erase(calls_.begin());
        }
        calls_.emplace(ch, std::move(r));
        return;
      }
      case Kind::kPublish:
      case Kind::kDeliver:
      case Kind::kReturn:
      case Kind::kGetOk: {
        int32_t code = 0;
        std::string_view exchange, key;
        if (m->kind == Kind::kPublish) {
          a.uint(2);
          exchange = a.shortstr();
          key = a.shortstr();
        } else if (m->kind == Kind::kDeliver) {
          a.shortstr();  // consumer tag
          a.uint(9);     // delivery tag, redelivered
          exchange = a.shortstr();
          key = a.shortstr();
        } else if (m->kind == Kind::kReturn) {
          code = static_cast<int32_t>(a.uint(2));
          a.shortstr();
          exchange = a.shortstr();
          key = a.shortstr();
        } else {
          a.uint(9);
          exchange = a.shortstr();
          key = a.shortstr();
        }
        if (!a.ok) return;
        if (s.content.size() >= kMaxChannels && !s.content.contains(ch)) return;
        Content c;
        c.req = Request{name, bounded(name + " " + (exchange.empty() ? std::string() : std::string(exchange) + " ") + std::string(key)),
                        message_target(exchange, key), s.start_ns, 0};
        c.delivery = side == Side::kServer;
        c.error = m->kind == Kind::kReturn;
        c.status = code;
        c.get = m->kind == Kind::kGetOk;
        c.bytes = bytes;
        s.content[ch] = std::move(c);
        return;
      }
      case Kind::kGetEmpty:
        if (side == Side::kServer) answer(ch, ts, bytes, 0, {}, 0, out);
        return;
      case Kind::kAck: {
        Record r = Request{name, name, "", s.start_ns, bytes}.finish(ts, 0);
        r.delivery = side == Side::kServer;
        out->push_back(std::move(r));
        return;
      }
      case Kind::kChannelClose:
      case Kind::kConnectionClose: {
        if (side != Side::kServer) return;  // a client closing its own channel: housekeeping
        int32_t code = static_cast<int32_t>(a.uint(2));
        std::string_view text = a.shortstr();
        if (!a.ok || code == 200) return;
        if (m->kind == Kind::kChannelClose && calls_.contains(ch)) return answer(ch, ts, bytes, code, text, -1, out);
        Record r = Request{name, name, name, s.start_ns, 0}.finish(ts, bytes);
        r.error = true;
        r.status = code;
        r.error_text = bounded(text);
        r.delivery = true;
        out->push_back(std::move(r));
        return;
      }
      default:
        return;
    }
  }

  // The broker answered the call on a channel: done (code: a Channel.Close's reply code).
  void answer(uint16_t ch, uint64_t ts, uint64_t bytes, int32_t code, std::string_view text, int64_t rows,
              std::vector<Record>* out) {
    auto it = calls_.find(ch);
    if (it == calls_.end()) {
      stats_.orphans++;
      return;
    }
    Record r = std::move(it->second).finish(ts, bytes);
    calls_.erase(it);
    r.rows = rows;
    if (code) {
      r.error = true;
      r.status = code;
      r.error_text = bounded(text);
    }
    out->push_back(std::move(r));
  }

  void body_done(Side side, Stream& s, uint64_t ts, std::vector<Record>* out) {
    Content* c = content(s, s.body_channel);
    if (!c || !c->header) return;
    // The content header gave the body's size; its frames' payloads add up to it.
    c->body_left -= std::min(c->body_left, s.body_payload);
    if (c->body_left == 0) message_done(side, s, s.body_channel, ts, out);
  }

  void message_done(Side side, Stream& s, uint16_t ch, uint64_t ts, std::vector<Record>* out) {
    auto it = s.content.find(ch);
    if (it == s.content.end()) return;
    Content& c = it->second;
    if (c.get) {  // Get-Ok's message: the GET call's answer
      if (side == Side::kServer) answer(ch, ts, c.bytes, 0, {}, 1, out);
    } else {
      Record r = std::move(c.req).finish(ts, 0);
      r.request_bytes = c.bytes;
      r.delivery = c.delivery;
      r.error = c.error;
      r.status = c.status;
      out->push_back(std::move(r));
    }
    s.content.erase(it);
  }

  void lose(Side side, Stream& s, std::vector<Record>* out) {
    stats_.resyncs++;
    stats_.skipped_bytes += s.frame.size();
    s.frame.clear();
    s.body = 0;
    s.content.clear();
    s.resync = true;
    if (side == Side::kServer) close(0, out);
  }

  Stream side_[2];
  std::map<uint16_t, Request> calls_;  // by channel: the client's call waiting for its answer
};

}  // namespace

std::unique_ptr<Parser> make_amqp_parser() { return std::make_unique<AmqpParser>(); }

}  // namespace sightline::protocols
