// The parsers' registry and the normalizations they share.
#include "protocols/protocol.h"

#include <algorithm>
#include <cctype>

namespace sightline::protocols {

std::unique_ptr<Parser> make_http1_parser();
std::unique_ptr<Parser> make_redis_parser();
std::unique_ptr<Parser> make_dns_parser(bool stream);
std::unique_ptr<Parser> make_pgsql_parser();
std::unique_ptr<Parser> make_mysql_parser();
std::unique_ptr<Parser> make_http2_parser();
std::unique_ptr<Parser> make_memcached_parser();
std::unique_ptr<Parser> make_nats_parser();
std::unique_ptr<Parser> make_amqp_parser();

std::unique_ptr<Parser> make_parser(Protocol p, bool stream) {
  switch (p) {
    case Protocol::kHttp: return make_http1_parser();
    case Protocol::kRedis: return make_redis_parser();
    case Protocol::kDns: return make_dns_parser(stream);
    case Protocol::kPgsql: return make_pgsql_parser();
    case Protocol::kMysql: return make_mysql_parser();
    case Protocol::kHttp2: return make_http2_parser();
    case Protocol::kMemcached: return make_memcached_parser();
    case Protocol::kNats: return make_nats_parser();
    case Protocol::kAmqp: return make_amqp_parser();
    default: return nullptr;
  }
}

std::string_view protocol_name(Protocol p) {
  switch (p) {
    case Protocol::kHttp: return "http";
    case Protocol::kPgsql: return "pgsql";
    case Protocol::kMysql: return "mysql";
    case Protocol::kRedis: return "redis";
    case Protocol::kDns: return "dns";
    case Protocol::kHttp2: return "http2";
    case Protocol::kMemcached: return "memcached";
    case Protocol::kNats: return "nats";
    case Protocol::kAmqp: return "amqp";
    default: return "unknown";
  }
}

std::string_view dns_rcode_name(int32_t rcode) {
  static constexpr std::string_view kNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
                                                "YXDOMAIN", "YXRRSET",  "NXRRSET", "NOTAUTH",  "NOTZONE"};
  return rcode >= 0 && rcode < 11 ? kNames[rcode] : "OTHER";
}

std::string bounded(std::string_view s, size_t n) {
  std::string out(s.substr(0, n));
  for (char& c : out)  // control bytes would break lines and labels
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return out;
}

bool parse_traceparent(std::string_view v, TraceContext* out) {
  // version 00: exactly 55 bytes; a later version may add fields after a '-'.
  auto hex = [](std::string_view s) {
    bool nonzero = false;
    for (char c : s) {
      if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
      nonzero |= c != '0';
    }
    return nonzero;  // all-zero ids are invalid
  };
  if (v.size() < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-' || (v.size() > 55 && v[55] != '-')) return false;
  std::string_view version = v.substr(0, 2), trace = v.substr(3, 32), parent = v.substr(36, 16), flags = v.substr(53, 2);
  if (version == "ff" || !hex(trace) || !hex(parent) || (v.starts_with("00") && v.size() != 55)) return false;
  if (!std::all_of(version.begin(), version.end(), [](char c) { return isxdigit(static_cast<unsigned char>(c)); }) ||
      !std::all_of(flags.begin(), flags.end(), [](char c) { return isxdigit(static_cast<unsigned char>(c)); }))
    return false;
  out->trace_id.assign(trace);
  out->parent_id.assign(parent);
  out->sampled = (std::stoi(std::string(flags), nullptr, 16) & 1) != 0;
  return true;
}

Record Request::finish(uint64_t end_ns, uint64_t response_bytes) && {
  Record r;
  r.method = std::move(method);
  r.raw = std::move(raw);
  r.target = std::move(target);
  r.start_ns = start_ns;
  r.end_ns = end_ns;
  r.request_bytes = bytes;
  r.response_bytes = response_bytes;
  r.no_response = end_ns == 0;
  r.trace = std::move(trace);
  return r;
}

Request sql_request(std::string_view sql, std::string method, uint64_t start_ns, uint64_t bytes) {
  return Request{std::move(method), bounded(sql), normalize_sql(sql), start_ns, bytes};
}

std::string sql_verb(std::string_view sql) {
  size_t i = 0;
  while (i < sql.size() && (isspace(static_cast<unsigned char>(sql[i])) || sql[i] == '(')) i++;
  std::string v;
  while (i < sql.size() && isalpha(static_cast<unsigned char>(sql[i])) && v.size() < 16)
    v += static_cast<char>(toupper(static_cast<unsigned char>(sql[i++])));
  return v.empty() ? "QUERY" : v;
}

namespace {

bool is_hex(char c) { return isxdigit(static_cast<unsigned char>(c)); }

// A path segment that names one thing among many: a number, a UUID, a long hex or token with
// digits. Those become a placeholder so that a route is one series, not one per id.
std::string_view placeholder(std::string_view seg) {
  if (seg.empty()) return {};
  bool digits = true, hex = true, has_digit = false, alnum = true;
  for (char c : seg) {
    unsigned char u = static_cast<unsigned char>(c);
    digits &= isdigit(u) != 0;
    hex &= is_hex(c);
    has_digit |= isdigit(u) != 0;
    alnum &= isalnum(u) || c == '-' || c == '_';
  }
  if (digits) return "{id}";
  if (seg.size() == 36 && seg[8] == '-' && seg[13] == '-' && seg[18] == '-' && seg[23] == '-') return "{uuid}";
  if (hex && seg.size() >= 16) return "{hex}";
  if (alnum && has_digit && seg.size() >= 20) return "{token}";
  return {};
}

}  // namespace

std::string normalize_tokens(std::string_view s, char sep) {
  std::string out;
  size_t pos = 0;
  while (pos <= s.size() && out.size() < kMaxRaw) {
    size_t end = s.find(sep, pos);
    std::string_view tok = s.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    std::string_view ph = placeholder(tok);
    out += ph.empty() ? tok : ph;
    if (end == std::string_view::npos) break;
    out += sep;
    pos = end + 1;
  }
  return bounded(out);
}

std::vector<std::string_view> split_words(std::string_view line, size_t max) {
  std::vector<std::string_view> out;
  size_t pos = 0;
  while (pos < line.size() && out.size() < max) {
    while (pos < line.size() && line[pos] == ' ') pos++;
    size_t end = line.find(' ', pos);
    if (end == std::string_view::npos) end = line.size();
    if (end > pos) out.push_back(line.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

bool parse_decimal(std::string_view s, uint64_t* v) {
  if (s.empty() || s.size() > 19) return false;
  *v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    *v = *v * 10 + static_cast<uint64_t>(c - '0');
  }
  return true;
}

LineReader::Got LineReader::next(std::string_view data, size_t* pos) {
  if (line_done_) {
    line_.clear();
    line_done_ = false;
  }
  if (payload_ > 0) {
    uint64_t n = std::min<uint64_t>(payload_, data.size() - *pos);
    *pos += n;
    payload_ -= n;
    return payload_ == 0 ? Got::kPayload : Got::kMore;
  }
  if (*pos >= data.size()) return Got::kMore;
  size_t eol = data.find('\n', *pos);
  std::string_view part = data.substr(*pos, eol == std::string_view::npos ? std::string_view::npos : eol + 1 - *pos);
  *pos += part.size();
  if (line_.size() < max_) line_.append(part.substr(0, max_ - line_.size()));
  if (eol == std::string_view::npos) {
    if (line_.size() < max_) return Got::kMore;
  } else if (line_.size() >= 2 && line_[line_.size() - 2] == '\r' && line_.size() < max_) {
    line_.resize(line_.size() - 2);
    line_done_ = true;
    return Got::kLine;
  }
  line_.clear();
  return Got::kBad;
}

bool LineReader::skip(uint64_t n) {
  if (payload_ < n || buffered()) return false;
  payload_ -= n;
  return true;
}

std::string normalize_path(std::string_view target) {
  // An absolute URI (proxies) keeps only its path; the query and fragment go.
  if (size_t scheme = target.find("://"); scheme != std::string_view::npos && scheme < 8) {
    size_t slash = target.find('/', scheme + 3);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  target = target.substr(0, target.find_first_of("?#"));
  std::string out;
  size_t pos = 0;
  while (pos <= target.size() && out.size() < kMaxRaw) {
    size_t slash = target.find('/', pos);
    std::string_view seg = target.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    std::string_view ph = placeholder(seg);
    out += ph.empty() ? seg : ph;
    if (slash == std::string_view::npos) break;
    out += '/';
    pos = slash + 1;
  }
  return bounded(out);
}

std::string normalize_sql(std::string_view sql) {
  std::string out;
  size_t i = 0;
  auto word_char = [](char c) { return isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '$'; };
  while (i < sql.size() && out.size() < kMaxRaw) {
    char c = sql[i];
    if (isspace(static_cast<unsigned char>(c))) {
      while (i < sql.size() && isspace(static_cast<unsigned char>(sql[i]))) i++;
      if (!out.empty() && i < sql.size()) out += ' ';
      continue;
    }
    if (c == '\'') {  // a string literal ('' escapes a quote)
      i++;
      while (i < sql.size()) {
        if (sql[i] == '\'' && i + 1 < sql.size() && sql[i + 1] == '\'') i += 2;
        else if (sql[i++] == '\'') break;
      }
      out += '?';
      continue;
    }
    bool prev_word = !out.empty() && word_char(out.back());
    if ((isdigit(static_cast<unsigned char>(c)) || (c == '-' && i + 1 < sql.size() && isdigit(static_cast<unsigned char>(sql[i + 1])) &&
                                                   (out.empty() || out.back() == ' ' || out.back() == '(' || out.back() == ',' || out.back() == '='))) &&
        !prev_word) {
      i++;
      while (i < sql.size() && (isalnum(static_cast<unsigned char>(sql[i])) || sql[i] == '.')) i++;
      out += '?';
      continue;
    }
    if (c == '$' && i + 1 < sql.size() && isdigit(static_cast<unsigned char>(sql[i + 1]))) {  // $1: already a parameter
      out += c;
      i++;
      continue;
    }
    out += c;
    i++;
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  return bounded(out);
}

}  // namespace sightline::protocols
