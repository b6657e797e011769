// HTTP/2 (RFC 9113) and gRPC on it: frames per side, header blocks decoded with HPACK (one
// decoder per side), one record per stream: its request's :method, :path (normalized; a gRPC
// path /pkg.Service/Method as it is), :status, latency from the client's first HEADERS to the
// server's END_STREAM, the bytes of the stream's frames each way. gRPC (content-type
// application/grpc): status and message from the trailers (grpc-status, grpc-message), the
// response's messages counted (streaming RPCs are one record); error = grpc-status not 0.
// RST_STREAM ends a stream (an error unless NO_ERROR after a full response); GOAWAY ends the
// streams past its last id. The client preface is skipped; a connection joined mid-way starts
// at a frame boundary (the kernel infers it from a HEADERS frame) and decodes what HPACK can.
// DATA payloads are counted, never buffered, so a gap inside one is skipped exactly; a gap
// inside a header block loses that side's HPACK table (hpack::Decoder::lost); one elsewhere
// loses the side's framing until the connection ends (counted as a resync).
#include <map>

#include "protocols/hpack.h"
#include "protocols/protocol.h"

namespace sightline::protocols {
namespace {

constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr uint32_t kMaxFrame = (1u << 24) - 1;
enum : uint8_t { kData = 0, kHeaders = 1, kPriority = 2, kRst = 3, kSettings = 4, kPush = 5, kPing = 6, kGoaway = 7,
                 kWindow = 8, kContinuation = 9 };
enum : uint8_t { kEndStream = 0x1, kAck = 0x1, kEndHeaders = 0x4, kPadded = 0x8, kPriorityFlag = 0x20 };

std::string_view error_name(uint32_t code) {
  static constexpr std::string_view kNames[] = {"NO_ERROR", "PROTOCOL_ERROR", "INTERNAL_ERROR", "FLOW_CONTROL_ERROR",
                                                "SETTINGS_TIMEOUT", "STREAM_CLOSED", "FRAME_SIZE_ERROR", "REFUSED_STREAM",
                                                "CANCEL", "COMPRESSION_ERROR", "CONNECT_ERROR", "ENHANCE_YOUR_CALM",
                                                "INADEQUATE_SECURITY", "HTTP_1_1_REQUIRED"};
  return code < 14 ? kNames[code] : "UNKNOWN_ERROR";
}

uint32_t be24(const char* p) {
  auto u = reinterpret_cast<const uint8_t*>(p);
  return (uint32_t(u[0]) << 16) | (uint32_t(u[1]) << 8) | u[2];
}
uint32_t be32(const char* p) {
  auto u = reinterpret_cast<const uint8_t*>(p);
  return (uint32_t(u[0]) << 24) | (uint32_t(u[1]) << 16) | (uint32_t(u[2]) << 8) | u[3];
}

// grpc-message is percent-encoded (gRPC over HTTP/2, "Responses").
std::string percent_decode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); i++) {
    auto hex = [](char c) { return isdigit(static_cast<unsigned char>(c)) ? c - '0' : (tolower(c) - 'a' + 10); };
    if (s[i] == '%' && i + 2 < s.size() && isxdigit(static_cast<unsigned char>(s[i + 1])) && isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

class Http2Parser final : public Parser {
 public:
  Http2Parser() = default;
  Http2Parser(Request* upgrade, uint64_t switch_bytes) : upgraded_(true) {
    last_id_ = 1;
    if (!upgrade) return;
    Stream s;
    s.method = std::move(upgrade->method);
    s.path = std::move(upgrade->target);
    s.raw = std::move(upgrade->raw);
    s.start_ns = upgrade->start_ns;
    s.req_bytes = upgrade->bytes;
    s.resp_bytes = switch_bytes;
    s.trace = std::move(upgrade->trace);
    streams_.emplace(1, std::move(s));
  }

  void feed(Side side, std::string_view data, uint64_t ts, std::vector<Record>* out) override {
    Dir& d = dir(side);
    size_t pos = 0;
    if (side == Side::kClient && d.preface < kPreface.size()) {  // the preface, or a connection joined later
      while (pos < data.size() && d.preface < kPreface.size() && data[pos] == kPreface[d.preface]) pos++, d.preface++;
      if (pos < data.size() && d.preface < kPreface.size()) {
        if (d.preface) {  // a partial preface and then other bytes: not HTTP/2's start
          stats_.resyncs++;
          stats_.skipped_bytes += d.preface;
        }
        d.preface = kPreface.size();
        joined();
      }
    } else if (side == Side::kServer && c_.preface == 0 && !upgraded_) {  // the server first: joined mid-way
      joined();
    }
    while (pos < data.size() && !d.dead) {
      if (!d.in_frame) {
        size_t n = std::min(9 - d.head.size(), data.size() - pos);
        d.head.append(data.substr(pos, n));
        pos += n;
        if (d.head.size() < 9) break;
        if (!begin_frame(side, d, out)) continue;
      }
      size_t take = std::min<uint64_t>(d.left, data.size() - pos);
      payload(d, data.substr(pos, take));
      pos += take;
      if (d.left == 0) end_frame(side, d, ts, out);
    }
  }

  void gap(Side side, uint64_t n, uint64_t ts, std::vector<Record>* out) override {
    Dir& d = dir(side);
    if (n == 0 || d.dead) return;
    if (d.in_frame && d.left >= n) {
      if (d.type == kData) {
        if (Stream* s = find(d.stream)) count_data_gap(side == Side::kClient ? s->req_msgs : s->resp_msgs, n);
      } else if (d.keep) {  // a header block (or settings) not whole: the insertions are lost
        d.keep = false;
        d.payload.clear();
        d.broken = true;
      }
      d.left -= n;
      if (d.left == 0) end_frame(side, d, ts, out);
      return;
    }
    lose(d);
  }

  void close(uint64_t, std::vector<Record>* out) override {
    for (auto& [id, s] : streams_) out->push_back(finish(s, 0));
    streams_.clear();
  }

  // The newest stream whose request came and whose response has not begun: a thread-per-request
  // server's call made meanwhile is made for it (a multiplexed connection served by several
  // threads at once is the newest one's guess; each thread's own stream is not known here).
  const TraceContext* open_trace() const override {
    for (auto it = streams_.rbegin(); it != streams_.rend(); ++it)
      if (!it->second.answered) return it->second.trace.trace_id.empty() ? nullptr : &it->second.trace;
    return nullptr;
  }

  size_t memory() const override {
    size_t n = streams_.size() * (sizeof(Stream) + 64 + 2 * kMaxRaw) + headers_bytes_;
    for (const Dir* d : {&c_, &s_}) n += heap_bytes(d->head) + heap_bytes(d->payload) + heap_bytes(d->block) + d->hpack.memory();
    return n;
  }

 private:
  // gRPC messages of one direction of a stream: each a 5-byte prefix (flag, length) and its bytes.
  struct Messages {
    uint64_t count = 0;
    uint64_t left = 0;      // bytes of the current message still to come
    uint8_t prefix[5] = {};
    uint8_t have = 0;       // prefix bytes read
    bool lost = false;      // a gap cut a prefix: no count from here
  };
  struct Stream {
    std::string method, path, raw;
    uint64_t start_ns = 0, req_bytes = 0, resp_bytes = 0;
    int32_t status = 0;
    int32_t grpc_status = -1;
    bool grpc = false, answered = false;
    std::string error_text;
    TraceContext trace;
    Messages req_msgs, resp_msgs;
  };
  struct Dir {
    size_t preface = 0;          // preface bytes matched (client side)
    std::string head;            // the frame header being read
    bool in_frame = false;
    uint8_t type = 0, flags = 0;
    uint32_t stream = 0;
    uint64_t left = 0;           // payload bytes to come
    bool keep = false;           // the payload is buffered (header blocks, settings, RST, GOAWAY)
    bool broken = false;         // part of the buffered payload was not captured
    std::string payload;
    std::string block;           // a header block across CONTINUATIONs
    uint32_t block_stream = 0;
    bool block_end_stream = false, in_block = false, block_push = false;
    bool block_broken = false;   // part of the block was not captured (or was past our bound)
    bool dead = false;           // framing lost
    hpack::Decoder hpack;        // decodes the blocks this side sends
  };

  // The connection's start was not seen: both HPACK tables hold entries we never saw inserted.
  void joined() {
    if (joined_) return;
    joined_ = true;
    c_.hpack.lost();
    s_.hpack.lost();
    c_.preface = kPreface.size();
  }

  Dir& dir(Side s) { return s == Side::kClient ? c_ : s_; }
  Dir& peer(Side s) { return s == Side::kClient ? s_ : c_; }
  Stream* find(uint32_t id) {
    auto it = streams_.find(id);
    return it == streams_.end() ? nullptr : &it->second;
  }

  void lose(Dir& d) {
    stats_.resyncs++;
    d.dead = true;
    d.head.clear();
    d.payload.clear();
    d.block.clear();
  }

  bool begin_frame(Side side, Dir& d, std::vector<Record>*) {
    uint32_t len = be24(d.head.data());
    d.type = static_cast<uint8_t>(d.head[3]);
    d.flags = static_cast<uint8_t>(d.head[4]);
    d.stream = be32(d.head.data() + 5) & 0x7fffffff;
    d.head.clear();
    // A CONTINUATION must follow its block's frame on the same stream; any other frame there
    // (or a length past the largest frame) means the framing is not what we think.
    if (len > kMaxFrame || (d.in_block && (d.type != kContinuation || d.stream != d.block_stream)) ||
        (!d.in_block && d.type == kContinuation)) {
      lose(d);
      return false;
    }
    d.in_frame = true;
    d.left = len;
    d.broken = false;
    d.keep = d.type == kHeaders || d.type == kContinuation || d.type == kPush || d.type == kSettings ||
             d.type == kRst || d.type == kGoaway || (d.type == kData && (d.flags & kPadded));
    d.payload.clear();
    if (d.keep && len > kMaxBuffered) {  // a header block larger than we hold: skipped, its insertions lost
      d.keep = false;
      d.broken = true;
    }
    if (Stream* s = d.stream ? find(d.stream) : nullptr)
      (side == Side::kClient ? s->req_bytes : s->resp_bytes) += 9 + len;
    else if (side == Side::kClient && d.type == kHeaders && d.stream)
      pending_bytes_ = 9 + len;  // the stream starts with this frame (made at its block's end)
    else if (side == Side::kClient && d.type == kContinuation)
      pending_bytes_ += 9 + len;
    return true;
  }

  void payload(Dir& d, std::string_view bytes) {
    d.left -= bytes.size();
    if (d.keep) {
      d.payload.append(bytes);
      return;
    }
    if (d.type == kData)
      if (Stream* s = find(d.stream)) count_data(&d == &c_ ? s->req_msgs : s->resp_msgs, *s, bytes);
  }

  static void count_data(Messages& m, const Stream& s, std::string_view bytes) {
    if (!s.grpc || m.lost) return;
    size_t pos = 0;
    while (pos < bytes.size()) {
      if (m.left) {
        size_t n = std::min<uint64_t>(m.left, bytes.size() - pos);
        m.left -= n;
        pos += n;
        continue;
      }
      m.prefix[m.have++] = static_cast<uint8_t>(bytes[pos++]);
      if (m.have == 5) {
        m.have = 0;
        m.count++;
        m.left = be32(reinterpret_cast<const char*>(m.prefix + 1));
      }
    }
  }

  static void count_data_gap(Messages& m, uint64_t n) {
    if (m.left >= n && m.have == 0) m.left -= n;
    else m.lost = true;
  }

  void end_frame(Side side, Dir& d, uint64_t ts, std::vector<Record>* out) {
    d.in_frame = false;
    std::string_view p = d.payload;
    Stream* s = d.stream ? find(d.stream) : nullptr;
    switch (d.type) {
      case kData:
        if (s && (d.flags & kPadded) && !p.empty()) {  // the padding's length first, the padding last
          size_t pad = static_cast<uint8_t>(p[0]);
          if (1 + pad <= p.size()) count_data(side == Side::kClient ? s->req_msgs : s->resp_msgs, *s, p.substr(1, p.size() - 1 - pad));
        }
        if (s && (d.flags & kEndStream) && side == Side::kServer) done(d.stream, ts, out);
        break;
      case kHeaders:
      case kPush: {
        size_t off = 0, pad = 0;
        if (d.flags & kPadded) {
          if (p.empty()) break;
          pad = static_cast<uint8_t>(p[0]);
          off = 1;
        }
        if (d.type == kHeaders && (d.flags & kPriorityFlag)) off += 5;
        if (d.type == kPush) off += 4;  // the promised stream
        d.block.clear();
        d.block_broken = d.broken || off + pad > p.size();
        if (!d.block_broken) d.block.assign(p.substr(off, p.size() - off - pad));
        d.block_stream = d.stream;
        d.block_end_stream = d.type == kHeaders && (d.flags & kEndStream);
        d.block_push = d.type == kPush;
        d.in_block = true;
        [[fallthrough]];
      }
      case kContinuation:
        if (d.type == kContinuation) {
          d.block_broken |= d.broken;
          if (!d.block_broken) d.block.append(p);
          if (d.block.size() > kMaxBuffered) d.block_broken = true;  // past what we hold: skipped
          if (d.block_broken) d.block.clear();
        }
        if (d.flags & kEndHeaders) {
          d.in_block = false;
          std::vector<hpack::Header>& hs = headers_;
          if (d.block_broken) {
            d.hpack.lost();  // its insertions are lost
            hs.clear();
          } else if (!d.hpack.decode(d.block, &hs)) {
            stats_.resyncs++;  // malformed: the table is lost
          }
          headers_bytes_ = hs.capacity() * sizeof(hpack::Header);
          for (const auto& h : hs) headers_bytes_ += h.name.capacity() + h.value.capacity();
          stats_.undecoded = c_.hpack.stats().unknown + s_.hpack.stats().unknown;
          d.block.clear();
          release_if_large(d.block);
          if (!d.block_push)  // a promised request: decoded for the table only
            headers(side, d.block_stream, hs, d.block_end_stream, ts, out);
          if (headers_bytes_ > kMaxBuffered) {  // a block of huge headers: not kept
            std::vector<hpack::Header>().swap(headers_);
            headers_bytes_ = 0;
          }
        }
        break;
      case kSettings:  // what this side allows the peer's encoder
        if (!(d.flags & kAck))
          for (size_t i = 0; i + 6 <= p.size(); i += 6)  // 16-bit id, 32-bit value
            if (p[i] == 0 && p[i + 1] == 1)                  // SETTINGS_HEADER_TABLE_SIZE
              peer(side).hpack.set_max_size(be32(p.data() + i + 2));
        break;
      case kRst:
        if (s && p.size() >= 4) {
          uint32_t code = be32(p.data());
          if (code != 0 || !s->answered) s->error_text = "RST_STREAM " + std::string(error_name(code));
          done(d.stream, ts, out, code != 0 || !s->answered);
        }
        break;
      case kGoaway:
        if (p.size() >= 8) {  // the streams past the last one the sender processed never will be
          uint32_t last = be32(p.data()) & 0x7fffffff, code = be32(p.data() + 4);
          for (auto it = streams_.upper_bound(last); it != streams_.end();) {
            it->second.error_text = "GOAWAY " + std::string(error_name(code));
            out->push_back(finish(it->second, 0));
            it = streams_.erase(it);
          }
        }
        break;
    }
    d.payload.clear();
    release_if_large(d.payload);
  }

  void headers(Side side, uint32_t id, const std::vector<hpack::Header>& hs, bool end_stream, uint64_t ts,
               std::vector<Record>* out) {
    if (!id) return;
    Stream* s = find(id);
    if (side == Side::kClient) {
      if (!s) {
        if (id <= last_id_) {  // a stream already ended (client trailers after it): nothing new
          return;
        }
        last_id_ = id;
        Stream n;
        n.start_ns = ts;
        n.req_bytes = pending_bytes_;
        for (const auto& h : hs) {
          if (h.name == ":method") n.method = bounded(h.value, 16);
          else if (h.name == ":path") n.path = h.value;
          else if (h.name == "content-type") n.grpc = h.value.starts_with("application/grpc");
          else if (h.name == "traceparent") parse_traceparent(h.value, &n.trace);
        }
        if (n.method.empty()) n.method = "UNKNOWN";  // its headers were not decodable
        n.raw = bounded(n.path);
        n.path = n.grpc ? bounded(n.path.substr(0, n.path.find('?'))) : normalize_path(n.path);
        auto [it, fresh] = streams_.emplace(id, std::move(n));
        s = &it->second;
        if (streams_.size() > kMaxPending) {  // the oldest stream is given up
          out->push_back(finish(streams_.begin()->second, 0));
          streams_.erase(streams_.begin());
        }
      }
      return;  // the request's end (END_STREAM) is not needed: the response ends the stream
    }
    if (!s) {
      stats_.orphans++;
      return;
    }
    for (const auto& h : hs) {
      if (h.name == ":status") {
        int v = 0;
        for (char ch : h.value) v = v * 10 + (isdigit(static_cast<unsigned char>(ch)) ? ch - '0' : 0);
        if (v >= 200 || !s->status) s->status = v;  // 1xx: informational, the final one follows
      } else if (h.name == "grpc-status") {
        s->grpc_status = 0;
        for (char ch : h.value) s->grpc_status = s->grpc_status * 10 + (isdigit(static_cast<unsigned char>(ch)) ? ch - '0' : 0);
      } else if (h.name == "grpc-message") {
        s->error_text = bounded(percent_decode(h.value));
      } else if (h.name == "content-type" && h.value.starts_with("application/grpc")) {
        s->grpc = true;
      }
    }
    if (s->status >= 200) s->answered = true;
    if (end_stream) done(id, ts, out);
  }

  void done(uint32_t id, uint64_t ts, std::vector<Record>* out, bool error = false) {
    auto it = streams_.find(id);
    if (it == streams_.end()) return;
    Record r = finish(it->second, ts);
    r.error |= error;
    out->push_back(std::move(r));
    streams_.erase(it);
  }

  static Record finish(Stream& s, uint64_t end_ns) {
    Record r;
    r.method = std::move(s.method);
    r.target = std::move(s.path);
    r.raw = std::move(s.raw);
    r.start_ns = s.start_ns;
    r.end_ns = end_ns;
    r.no_response = end_ns == 0 || !s.answered;
    r.request_bytes = s.req_bytes;
    r.response_bytes = s.resp_bytes;
    r.error_text = std::move(s.error_text);
    r.grpc = s.grpc;
    r.trace = std::move(s.trace);
    if (s.grpc) {
      r.status = s.grpc_status >= 0 ? s.grpc_status : s.answered ? 2 /* UNKNOWN: no trailers */ : 0;
      r.error = s.grpc_status != 0;
      r.rows = s.resp_msgs.lost ? -1 : static_cast<int64_t>(s.resp_msgs.count);
    } else {
      r.status = s.status;
      r.error = s.status >= 500 || (!r.error_text.empty());
    }
    return r;
  }

  Dir c_, s_;
  std::map<uint32_t, Stream> streams_;  // open streams by id (client-initiated: odd)
  uint32_t last_id_ = 0;                // the newest stream the client opened
  uint64_t pending_bytes_ = 0;          // the opening HEADERS frame's size
  bool joined_ = false;                 // the connection's start was not seen
  bool upgraded_ = false;               // from HTTP/1.1: the server speaks before the client's preface
  std::vector<hpack::Header> headers_;  // the last block's, kept for their strings' capacity
  size_t headers_bytes_ = 0;            // what they hold
};

}  // namespace

std::unique_ptr<Parser> make_http2_parser() { return std::make_unique<Http2Parser>(); }
std::unique_ptr<Parser> make_http2_upgraded(Request* upgrade, uint64_t switch_bytes) {
  return std::make_unique<Http2Parser>(upgrade, switch_bytes);
}

}  // namespace sightline::protocols
