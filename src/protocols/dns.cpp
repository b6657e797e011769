// DNS (RFC 1035) over UDP (one message per datagram) and TCP (each message after a two-byte
// length; a side's first message may come without it: see bare_message): queries matched with responses by id; the first question's name and type, the
// response code and the number of answers. Names are read with compression pointers, bounded
// in length and in jumps.
#include <arpa/inet.h>

#include <cstring>
#include <deque>

#include "protocols/protocol.h"
#include "sightline/l7_infer.h"

namespace sightline::protocols {
namespace {

constexpr size_t kHeader = 12;

std::string_view qtype_name(uint16_t t) {
  switch (t) {
    case 1: return "A";
    case 2: return "NS";
    case 5: return "CNAME";
    case 6: return "SOA";
    case 12: return "PTR";
    case 15: return "MX";
    case 16: return "TXT";
    case 28: return "AAAA";
    case 33: return "SRV";
    case 35: return "NAPTR";
    case 64: return "SVCB";
    case 65: return "HTTPS";
    case 255: return "ANY";
  }
  return "";
}

uint16_t be16(std::string_view m, size_t at) {
  return static_cast<uint16_t>((static_cast<uint8_t>(m[at]) << 8) | static_cast<uint8_t>(m[at + 1]));
}

// The name at `at`; `end` gets the offset after it (in the message's own bytes). False if
// malformed.
bool read_name(std::string_view m, size_t at, std::string* name, size_t* end) {
  name->clear();
  size_t pos = at;
  int jumps = 0;
  bool jumped = false;
  for (int labels = 0; labels < 128; labels++) {
    if (pos >= m.size()) return false;
    uint8_t len = static_cast<uint8_t>(m[pos]);
    if (len == 0) {
      if (!jumped) *end = pos + 1;
      if (name->empty()) *name = ".";
      return true;
    }
    if ((len & 0xc0) == 0xc0) {
      if (pos + 1 >= m.size() || ++jumps > 16) return false;
      if (!jumped) *end = pos + 2;
      jumped = true;
      pos = ((len & 0x3f) << 8) | static_cast<uint8_t>(m[pos + 1]);
      continue;
    }
    if ((len & 0xc0) != 0 || pos + 1 + len > m.size()) return false;
    if (!name->empty()) *name += '.';
    if (name->size() + len > 253) return false;
    name->append(m.substr(pos + 1, len));
    pos += 1 + len;
  }
  return false;
}

class DnsParser final : public Parser {
 public:
  explicit DnsParser(bool stream) : stream_(stream) {}
  void feed(Side side, std::string_view data, uint64_t ts, std::vector<Record>* out) override {
    Stream& s = side == Side::kClient ? req_ : resp_;
    if (!stream_) return message(side, data, data.size(), ts, out);  // a datagram is a message
    if (!s.seen && s.buf.empty() && bare_message(data)) {
      // A reader of the length first (its two bytes alone, before the kernel knew the
      // connection): the first message comes without it.
      s.seen = true;
      return message(side, data, data.size() + 2, ts, out);
    }
    s.seen = true;
    s.buf.append(data);
    size_t pos = 0;
    while (s.buf.size() - pos >= 2) {
      size_t len = be16(s.buf, pos);
      if (s.buf.size() - pos - 2 < len) break;
      message(side, std::string_view(s.buf).substr(pos + 2, len), len + 2, ts, out);
      pos += 2 + len;
    }
    s.buf.erase(0, pos);
    if (s.buf.size() > kMaxBuffered) {
      stats_.resyncs++;
      stats_.skipped_bytes += s.buf.size();
      s.buf.clear();
    }
    release_if_large(s.buf);
  }

  // A pending query's record also holds up to kMaxAnswers addresses (only once answered).
  size_t memory() const override {
    return heap_bytes(req_.buf) + heap_bytes(resp_.buf) + pending_.size() * (sizeof(Pending) + 2 * kMaxRaw);
  }

  void gap(Side side, uint64_t n, uint64_t, std::vector<Record>*) override {
    if (n == 0) return;
    Stream& s = side == Side::kClient ? req_ : resp_;
    stats_.resyncs++;
    stats_.skipped_bytes += s.buf.size() + n;
    s.buf.clear();
  }

  void close(uint64_t, std::vector<Record>* out) override {
    for (auto& p : pending_) {
      p.r.no_response = true;
      out->push_back(std::move(p.r));
    }
    pending_.clear();
  }

 private:
  struct Stream {
    std::string buf;
    bool seen = false;  // bytes of this side came before
  };

  // A whole DNS message with no length in front (and not one with its length).
  static bool bare_message(std::string_view d) {
    auto shaped = [](std::string_view m) {
      uint8_t peek[SL_L7_PEEK] = {};
      memcpy(peek, m.data(), std::min(m.size(), sizeof peek));
      int kind = 0;
      return sl_l7_infer_dns(peek, static_cast<uint32_t>(m.size()), &kind) == SL_L7_DNS;
    };
    bool framed = d.size() >= 2 && be16(d, 0) == d.size() - 2 && shaped(d.substr(2));
    return !framed && shaped(d);
  }
  struct Pending {
    uint16_t id;
    Record r;
  };

  void message(Side, std::string_view m, size_t wire, uint64_t ts, std::vector<Record>* out) {
    std::string name;
    size_t end = 0;
    if (m.size() < kHeader || be16(m, 4) == 0 || !read_name(m, kHeader, &name, &end) || end + 4 > m.size()) {
      stats_.resyncs++;
      stats_.skipped_bytes += m.size();
      return;
    }
    uint16_t id = be16(m, 0), flags = be16(m, 2), qtype = be16(m, end);
    bool response = flags & 0x8000;
    if (!response) {
      Record r;
      std::string_view t = qtype_name(qtype);
      r.method = t.empty() ? "TYPE" + std::to_string(qtype) : std::string(t);
      r.target = bounded(name);
      r.raw = r.target;
      r.start_ns = ts;
      r.request_bytes = wire;
      pending_.push_back({id, std::move(r)});
      if (pending_.size() > kMaxPending) {
        pending_.front().r.no_response = true;
        out->push_back(std::move(pending_.front().r));
        pending_.pop_front();
      }
      return;
    }
    for (auto it = pending_.begin(); it != pending_.end(); ++it) {
      if (it->id != id) continue;
      Record r = std::move(it->r);
      pending_.erase(it);
      r.status = flags & 0xf;
      r.error = r.status != 0;
      r.rows = be16(m, 6);  // answers
      answers(m, end + 4, be16(m, 6), &r.addresses);
      r.end_ns = ts;
      r.response_bytes = wire;
      out->push_back(std::move(r));
      return;
    }
    stats_.orphans++;
  }

  // The A and AAAA records among the first `n` answers, which start at `pos`.
  static void answers(std::string_view m, size_t pos, uint16_t n, std::vector<std::string>* out) {
    std::string name;
    for (uint16_t i = 0; i < n && out->size() < kMaxAnswers; i++) {
      size_t end = 0;
      if (!read_name(m, pos, &name, &end) || end + 10 > m.size()) return;
      uint16_t type = be16(m, end), len = be16(m, end + 8);
      size_t data = end + 10;
      if (data + len > m.size()) return;
      char text[INET6_ADDRSTRLEN];
      if ((type == 1 && len == 4 && inet_ntop(AF_INET, m.data() + data, text, sizeof text)) ||
          (type == 28 && len == 16 && inet_ntop(AF_INET6, m.data() + data, text, sizeof text)))
        out->emplace_back(text);
      pos = data + len;
    }
  }

  Stream req_, resp_;
  bool stream_;  // TCP: each message after its length
  std::deque<Pending> pending_;
};

}  // namespace

std::unique_ptr<Parser> make_dns_parser(bool stream) { return std::make_unique<DnsParser>(stream); }

}  // namespace sightline::protocols
