// HTTP/1.0 and 1.1 (RFC 9112): requests and responses paired in order (keep-alive, pipelining),
// bodies by Content-Length, chunked encoding or read to the close; 1xx responses skipped (101
// ends parsing: the connection speaks something else; an upgrade to h2c goes on as HTTP/2, the
// upgrading request its stream 1), HEAD/204/304 responses without a body.
// A gap inside a body is skipped exactly; anywhere else the side resyncs at the next start line.
#include <deque>

#include "protocols/protocol.h"

namespace sightline::protocols {
namespace {

bool ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); i++)
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool is_method(std::string_view m) {
  if (m.empty() || m.size() > 16) return false;
  for (char c : m)
    if (c < 'A' || c > 'Z') return false;
  return true;
}

// Where a start line of `side` begins at or after pos (at a line start), or npos.
size_t find_start(Side side, std::string_view in, size_t pos) {
  for (size_t p = pos; p < in.size(); p++) {
    if (p > 0 && in[p - 1] != '\n') continue;
    std::string_view rest = in.substr(p);
    if (side == Side::kServer) {
      if (rest.starts_with("HTTP/1.") || std::string_view("HTTP/1.").starts_with(rest)) return p;
    } else {
      size_t sp = rest.find(' ');
      if (sp != std::string_view::npos ? is_method(rest.substr(0, sp)) : rest.size() < 8 && is_method(rest)) return p;
    }
  }
  return std::string_view::npos;
}

class Http1Parser final : public Parser {
 public:
  void feed(Side side, std::string_view data, uint64_t ts, std::vector<Record>* out) override {
    if (h2_) return h2(&Parser::feed, side, data, ts, out);
    if (upgraded_) return;
    Stream& s = stream(side);
    std::string_view in = data;
    if (!s.buf.empty()) {
      s.buf.append(data);
      in = s.buf;
    }
    size_t used = process(side, s, in, ts, out);
    if (h2_) {  // the 101 to h2c ended at `used`: what follows is HTTP/2's
      std::string rest(in.substr(used));
      req_.buf.clear();
      resp_.buf.clear();
      release_if_large(req_.buf);
      release_if_large(resp_.buf);
      if (!rest.empty()) h2(&Parser::feed, side, std::string_view(rest), ts, out);
      return;
    }
    if (upgraded_) {  // the rest is another protocol's
      req_.buf.clear();
      resp_.buf.clear();
      release_if_large(req_.buf);
      release_if_large(resp_.buf);
      return;
    }
    if (!s.buf.empty()) s.buf.erase(0, used);
    else s.buf.assign(in.substr(used));
    if (s.buf.size() > kMaxBuffered) lose_sync(side, s, out);
    release_if_large(s.buf);
  }

  const TraceContext* open_trace() const override {
    if (h2_) return h2_->open_trace();
    return pending_.empty() || pending_.back().trace.trace_id.empty() ? nullptr : &pending_.back().trace;
  }

  Protocol switched_to() const override { return h2_ ? Protocol::kHttp2 : Protocol::kUnknown; }

  size_t memory() const override {
    if (h2_) return h2_->memory();
    return heap_bytes(req_.buf) + heap_bytes(resp_.buf) + pending_.size() * kPendingBytes;
  }

  void gap(Side side, uint64_t n, uint64_t ts, std::vector<Record>* out) override {
    if (h2_) return h2(&Parser::gap, side, n, ts, out);
    if (upgraded_ || n == 0) return;
    Stream& s = stream(side);
    if (s.buf.empty() && (s.st == St::kBody || s.st == St::kChunkData) && s.remaining >= n) {
      s.remaining -= n;
      s.bytes += n;
      if (s.remaining == 0) {
        if (s.st == St::kBody) complete(side, s, ts, out);
        else s.st = St::kChunkCrlf, s.remaining = 2;
      }
      return;
    }
    if (s.st == St::kToClose) {
      s.bytes += n;
      return;
    }
    lose_sync(side, s, out);
  }

  void close(uint64_t ts, std::vector<Record>* out) override {
    if (h2_) {
      h2_->close(ts, out);
      sync_stats();
      return;
    }
    if (resp_.st == St::kToClose) complete(Side::kServer, resp_, ts, out);
    while (!pending_.empty()) unanswered(out);
  }

 private:
  enum class St { kHead, kBody, kToClose, kChunkSize, kChunkData, kChunkCrlf, kTrailers, kResync };
  struct Stream {
    std::string buf;  // an incomplete head or chunk-size line, only
    St st = St::kHead;
    uint64_t remaining = 0;
    uint64_t bytes = 0;
    uint64_t start_ns = 0;
    bool started = false;
    std::string method, raw;
    int status = 0;
    bool h2c = false;    // a response's Upgrade: h2c
    TraceContext trace;  // a request's traceparent
  };

  // After the upgrade to h2c, HTTP/2's parser takes every call; its counts add to this one's.
  template <class... A, class... B>
  void h2(void (Parser::*f)(A...), B&&... args) {
    ((*h2_).*f)(std::forward<B>(args)...);
    sync_stats();
  }
  void sync_stats() {
    const ParserStats& h = h2_->stats();
    stats_.resyncs = before_.resyncs + h.resyncs;
    stats_.skipped_bytes = before_.skipped_bytes + h.skipped_bytes;
    stats_.orphans = before_.orphans + h.orphans;
    stats_.undecoded = before_.undecoded + h.undecoded;
  }

  Stream& stream(Side side) { return side == Side::kClient ? req_ : resp_; }

  void lose_sync(Side side, Stream& s, std::vector<Record>* out) {
    stats_.resyncs++;
    stats_.skipped_bytes += s.buf.size();
    s.buf.clear();
    release_if_large(s.buf);
    s.st = St::kResync;
    s.started = false;
    // A response was lost: the request it answered cannot be paired any more.
    if (side == Side::kServer && !pending_.empty()) unanswered(out);
  }

  void unanswered(std::vector<Record>* out) {
    out->push_back(std::move(pending_.front()).finish(0, 0));
    pending_.pop_front();
  }

  void complete(Side side, Stream& s, uint64_t ts, std::vector<Record>* out) {
    s.st = St::kHead;
    s.started = false;
    if (side == Side::kClient) {
      std::string target = normalize_path(s.raw);
      pending_.push_back({std::move(s.method), std::move(s.raw), std::move(target), s.start_ns, s.bytes, std::move(s.trace)});
      s.trace = {};
      if (pending_.size() > kMaxPending) unanswered(out);
      return;
    }
    if (s.status >= 100 && s.status < 200) {
      if (s.status != 101) return;  // 100 Continue, 103 Early Hints: the real response follows
      if (s.h2c) {  // to HTTP/2: the upgrading request is its stream 1, answered there
        before_ = stats_;
        Request up;
        if (!pending_.empty()) {
          up = std::move(pending_.front());
          pending_.pop_front();
        } else {
          stats_.orphans++;  // its request was not seen: stream 1's answer will be an orphan too
          before_ = stats_;
        }
        while (!pending_.empty()) unanswered(out);
        h2_ = make_http2_upgraded(up.method.empty() ? nullptr : &up, s.bytes);
        return;
      }
      upgraded_ = true;  // Switching Protocols (WebSocket ...): the rest is not HTTP/1
    }
    if (pending_.empty()) {
      stats_.orphans++;
      return;
    }
    Record r = std::move(pending_.front()).finish(ts, s.bytes);
    r.status = s.status;
    r.error = s.status >= 500;
    out->push_back(std::move(r));
    pending_.pop_front();
  }

  // Parses a whole head (start line and headers, with the blank line); sets the body state.
  bool parse_head(Side side, Stream& s, std::string_view head) {
    size_t eol = head.find("\r\n");
    std::string_view line = head.substr(0, eol);
    if (side == Side::kClient) {
      size_t sp1 = line.find(' '), sp2 = line.rfind(' ');
      if (sp1 == std::string_view::npos || sp2 <= sp1) return false;
      std::string_view method = line.substr(0, sp1), version = line.substr(sp2 + 1);
      if (!is_method(method) || !version.starts_with("HTTP/1.")) return false;
      s.method.assign(method);
      s.trace = {};
      s.raw = bounded(line.substr(sp1 + 1, sp2 - sp1 - 1));
    } else {
      if (line.size() < 12 || !line.starts_with("HTTP/1.") || line[8] != ' ') return false;
      int status = 0;
      for (int i = 9; i < 12; i++) {
        if (line[i] < '0' || line[i] > '9') return false;
        status = status * 10 + (line[i] - '0');
      }
      s.status = status;
      s.h2c = false;
    }
    bool chunked = false, has_length = false;
    uint64_t length = 0;
    for (size_t pos = eol + 2; pos < head.size();) {
      size_t end = head.find("\r\n", pos);
      if (end == std::string_view::npos || end == pos) break;
      std::string_view h = head.substr(pos, end - pos);
      pos = end + 2;
      size_t colon = h.find(':');
      if (colon == std::string_view::npos) return false;
      std::string_view name = h.substr(0, colon), value = trim(h.substr(colon + 1));
      if (ieq(name, "content-length")) {
        length = 0;
        if (value.empty() || value.size() > 18) return false;
        for (char c : value) {
          if (c < '0' || c > '9') return false;
          length = length * 10 + static_cast<uint64_t>(c - '0');
        }
        has_length = true;
      } else if (ieq(name, "transfer-encoding")) {
        chunked = value.size() >= 7 && ieq(value.substr(value.size() - 7), "chunked");
      } else if (side == Side::kServer && ieq(name, "upgrade")) {
        s.h2c = ieq(value, "h2c");
      } else if (side == Side::kClient && ieq(name, "traceparent")) {
        parse_traceparent(value, &s.trace);
      }
    }
    bool no_body = false;
    if (side == Side::kServer) {
      bool head_request = !pending_.empty() && pending_.front().method == "HEAD";
      no_body = head_request || (s.status >= 100 && s.status < 200) || s.status == 204 || s.status == 304;
    }
    if (no_body) s.st = St::kHead;
    else if (chunked) s.st = St::kChunkSize;
    else if (has_length && length > 0) s.st = St::kBody, s.remaining = length;
    else if (has_length || side == Side::kClient) s.st = St::kHead;  // no body
    else s.st = St::kToClose;  // a response without a length ends at the close
    return true;
  }

  size_t process(Side side, Stream& s, std::string_view in, uint64_t ts, std::vector<Record>* out) {
    size_t pos = 0;
    while (pos < in.size()) {
      switch (s.st) {
        case St::kResync: {
          size_t p = find_start(side, in, pos);
          if (p == std::string_view::npos) {
            stats_.skipped_bytes += in.size() - pos;
            return in.size();
          }
          stats_.skipped_bytes += p - pos;
          pos = p;
          s.st = St::kHead;
          break;
        }
        case St::kHead: {
          if (!s.started) {
            s.started = true;
            s.start_ns = ts;
            s.bytes = 0;
          }
          size_t end = in.find("\r\n\r\n", pos);
          if (end == std::string_view::npos) {
            // Too early to parse; but bytes that cannot start a message mean lost sync.
            if (find_start(side, in.substr(0, std::min(in.size(), pos + 24)), pos) != pos) {
              stats_.resyncs++;
              s.st = St::kResync;
              s.started = false;
              pos++;
              break;
            }
            return pos;
          }
          std::string_view head = in.substr(pos, end + 4 - pos);
          if (!parse_head(side, s, head)) {
            stats_.resyncs++;
            s.st = St::kResync;
            s.started = false;
            pos++;
            break;
          }
          pos = end + 4;
          s.bytes = head.size();
          if (s.st == St::kHead) complete(side, s, ts, out);
          if (h2_ || upgraded_) return pos;  // upgraded: the rest is HTTP/2's, or not ours
          break;
        }
        case St::kBody:
        case St::kChunkData:
        case St::kChunkCrlf: {
          uint64_t n = std::min<uint64_t>(s.remaining, in.size() - pos);
          pos += n;
          s.remaining -= n;
          s.bytes += n;
          if (s.remaining == 0) {
            if (s.st == St::kBody) complete(side, s, ts, out);
            else if (s.st == St::kChunkData) s.st = St::kChunkCrlf, s.remaining = 2;
            else s.st = St::kChunkSize;
          }
          break;
        }
        case St::kToClose:
          s.bytes += in.size() - pos;
          return in.size();
        case St::kChunkSize: {
          size_t eol = in.find("\r\n", pos);
          if (eol == std::string_view::npos) {
            if (in.size() - pos > 64) {
              lose_sync(side, s, out);
              return in.size();
            }
            return pos;
          }
          uint64_t size = 0;
          size_t digits = 0;
          for (size_t i = pos; i < eol && digits < 16; i++, digits++) {
            char c = in[i];
            int v = c >= '0' && c <= '9' ? c - '0' : (c | 0x20) >= 'a' && (c | 0x20) <= 'f' ? (c | 0x20) - 'a' + 10 : -1;
            if (v < 0) break;  // chunk extensions after ';'
            size = size * 16 + static_cast<uint64_t>(v);
          }
          if (digits == 0) {
            lose_sync(side, s, out);
            return in.size();
          }
          s.bytes += eol + 2 - pos;
          pos = eol + 2;
          if (size == 0) s.st = St::kTrailers;
          else s.st = St::kChunkData, s.remaining = size;
          break;
        }
        case St::kTrailers: {
          if (in.substr(pos).starts_with("\r\n")) {
            pos += 2;
            s.bytes += 2;
            complete(side, s, ts, out);
            break;
          }
          size_t end = in.find("\r\n\r\n", pos);
          if (end == std::string_view::npos) return pos;
          s.bytes += end + 4 - pos;
          pos = end + 4;
          complete(side, s, ts, out);
          break;
        }
      }
    }
    return pos;
  }

  Stream req_, resp_;
  std::deque<Request> pending_;
  bool upgraded_ = false;
  std::unique_ptr<Parser> h2_;  // upgraded to h2c
  ParserStats before_;          // this parser's counts when it was
};

}  // namespace

std::unique_ptr<Parser> make_http1_parser() { return std::make_unique<Http1Parser>(); }

}  // namespace sightline::protocols
