// Redis RESP2 and RESP3: commands (arrays of bulk strings, or inline commands) from the client,
// one reply each from the server, in order (pipelines). Streaming: a bulk string is counted, not
// buffered, so a gap inside one is skipped exactly; only type lines are buffered. Push messages
// (RESP3 '>') answer no command. Error replies ('-', '!') mark the record an error.
#include <cctype>
#include <deque>

#include "protocols/protocol.h"

namespace sightline::protocols {
namespace {

constexpr int kMaxDepth = 16;
constexpr size_t kMaxLine = 1024;  // a type line longer than this is garbage

class RedisParser final : public Parser {
 public:
  // A stream's command words are few and short (kept while a command is read).
  size_t memory() const override {
    size_t n = pending_.size() * kPendingBytes;
    for (const Stream* s : {&req_, &resp_})
      n += heap_bytes(s->line) + heap_bytes(s->err) + s->words.capacity() * sizeof(std::string);
    return n;
  }
  void feed(Side side, std::string_view data, uint64_t ts, std::vector<Record>* out) override {
    Stream& s = side == Side::kClient ? req_ : resp_;
    size_t pos = 0;
    while (pos < data.size()) {
      if (!s.active) {
        s.active = true;
        s.start_ns = ts;
        s.bytes = 0;
        s.error = false;
        s.words.clear();
        s.err.clear();
        s.push = false;
      }
      if (s.bulk > 0) {  // inside a bulk string (its CRLF included)
        uint64_t n = std::min<uint64_t>(s.bulk, data.size() - pos);
        if (s.capture_word && s.bulk > 2) {
          size_t take = std::min<uint64_t>(n, s.bulk - 2);
          std::string& w = s.words.back();
          w.append(data.substr(pos, std::min(take, kMaxRaw > w.size() ? kMaxRaw - w.size() : 0)));
        }
        pos += n;
        s.bulk -= n;
        s.bytes += n;
        if (s.bulk == 0 && element_done(s)) finish(side, s, ts, out);
        continue;
      }
      size_t eol = data.find('\n', pos);
      std::string_view part = data.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol + 1 - pos);
      s.line.append(part);
      pos += part.size();
      s.bytes += part.size();
      if (eol == std::string_view::npos) {
        if (s.line.size() > kMaxLine) resync(side, s, out);
        continue;
      }
      std::string line = std::move(s.line);
      s.line.clear();
      if (line.size() < 2 || line[line.size() - 2] != '\r') {
        resync(side, s, out);
        continue;
      }
      line.resize(line.size() - 2);
      if (!on_line(side, s, line)) {
        resync(side, s, out);
        continue;
      }
      if (s.resyncing) continue;  // a line skipped while looking for a value's start
      if (s.bulk == 0 && s.depth == 0) finish(side, s, ts, out);
    }
  }

  void gap(Side side, uint64_t n, uint64_t ts, std::vector<Record>* out) override {
    Stream& s = side == Side::kClient ? req_ : resp_;
    if (n == 0) return;
    if (s.bulk >= n && s.line.empty()) {
      s.bulk -= n;
      s.bytes += n;
      if (s.bulk == 0 && element_done(s)) finish(side, s, ts, out);
      return;
    }
    resync(side, s, out);
  }

  void close(uint64_t, std::vector<Record>* out) override {
    while (!pending_.empty()) unanswered(out);
  }

 private:
  struct Stream {
    bool active = false;
    std::string line;           // a type line being read
    uint64_t bulk = 0;          // bytes left of a bulk string, with its CRLF
    int depth = 0;              // open aggregates
    int64_t left[kMaxDepth] = {};  // elements left in each
    bool capture_word = false;  // the bulk being read is a command word to keep
    std::vector<std::string> words;
    uint64_t start_ns = 0, bytes = 0;
    bool error = false, push = false;
    std::string err;
    bool resyncing = false;
  };

  // One element of the innermost aggregate done; true when the whole value is.
  bool element_done(Stream& s) {
    while (s.depth > 0) {
      if (--s.left[s.depth - 1] > 0) return false;
      s.depth--;
    }
    return true;
  }

  bool on_line(Side side, Stream& s, std::string_view line) {
    if (s.resyncing) {  // skipping to a line that can start a value
      bool start = side == Side::kClient ? line.size() > 1 && line[0] == '*' && isdigit(static_cast<unsigned char>(line[1]))
                                         : !line.empty() && std::string_view("+-:$*_,#!=(%~>|").find(line[0]) != std::string_view::npos;
      if (!start) {
        stats_.skipped_bytes += line.size() + 2;
        s.active = false;
        return true;
      }
      s.resyncing = false;
      s.bytes = 0;
    }
    if (line.empty()) return false;
    char t = line[0];
    std::string_view rest = line.substr(1);
    bool top = s.depth == 0;
    if (side == Side::kClient && top && t != '*') {  // an inline command: words split by spaces
      if (!isalpha(static_cast<unsigned char>(t))) return false;
      size_t i = 0;
      while (i < line.size() && s.words.size() < 2) {
        while (i < line.size() && line[i] == ' ') i++;
        size_t j = line.find(' ', i);
        if (j == std::string_view::npos) j = line.size();
        if (j > i) s.words.emplace_back(bounded(line.substr(i, j - i)));
        i = j;
      }
      return !s.words.empty();
    }
    int64_t n = 0;
    bool neg = false;
    auto number = [&] {
      std::string_view v = rest;
      if (!v.empty() && v[0] == '-') neg = true, v.remove_prefix(1);
      if (v.empty() || v.size() > 18) return false;
      for (char c : v) {
        if (c < '0' || c > '9') return false;
        n = n * 10 + (c - '0');
      }
      return true;
    };
    if (top && side == Side::kServer) {
      s.error = t == '-' || t == '!';
      s.push = t == '>';
      if (t == '-') s.err = bounded(rest);
    }
    switch (t) {
      case '*': case '%': case '~': case '>': case '|': {
        if (!number()) return false;
        if (neg || n == 0) {  // null or empty: one whole element
          if (!top) element_done(s);
          return true;
        }
        if (s.depth >= kMaxDepth) return false;
        s.left[s.depth++] = (t == '%' || t == '|') ? 2 * n : n;
        return true;
      }
      case '$': case '=': case '!': {
        if (!number()) return false;
        if (neg) {
          if (!top) element_done(s);
          return true;
        }
        s.bulk = static_cast<uint64_t>(n) + 2;
        s.capture_word = side == Side::kClient && s.depth == 1 && s.words.size() < 2;
        if (s.capture_word) s.words.emplace_back();
        return true;
      }
      case '+': case '-': case ':': case '_': case ',': case '#': case '(':
        if (!top) element_done(s);
        return true;
    }
    return false;
  }

  void finish(Side side, Stream& s, uint64_t ts, std::vector<Record>* out) {
    s.active = false;
    s.depth = 0;
    if (side == Side::kClient) {
      if (s.words.empty()) return;
      std::string method = s.words[0];
      for (char& c : method) c = static_cast<char>(toupper(static_cast<unsigned char>(c)));
      std::string raw = method;
      if (s.words.size() > 1) raw += " " + s.words[1];
      method = bounded(method, 32);
      pending_.push_back({method, bounded(raw), method, s.start_ns, s.bytes});
      if (pending_.size() > kMaxPending) unanswered(out);
      return;
    }
    if (s.push) return;  // not an answer
    if (pending_.empty()) {
      stats_.orphans++;
      return;
    }
    Record r = std::move(pending_.front()).finish(ts, s.bytes);
    r.error = s.error;
    r.error_text = std::move(s.err);
    out->push_back(std::move(r));
    pending_.pop_front();
  }

  void unanswered(std::vector<Record>* out) {
    out->push_back(std::move(pending_.front()).finish(0, 0));
    pending_.pop_front();
  }

  void resync(Side side, Stream& s, std::vector<Record>* out) {
    stats_.resyncs++;
    stats_.skipped_bytes += s.line.size();
    s = Stream{};
    s.resyncing = true;
    if (side == Side::kServer && !pending_.empty()) unanswered(out);
  }

  Stream req_, resp_;
  std::deque<Request> pending_;
};

}  // namespace

std::unique_ptr<Parser> make_redis_parser() { return std::make_unique<RedisParser>(); }

}  // namespace sightline::protocols
