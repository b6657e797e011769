#include "export/otlp.h"

#include <chrono>
#include <random>

#include "core/render.h"
#include "core/schema.h"

namespace sightline::exporter {

void otlp_attr(pb::Writer& parent, uint32_t field, std::string_view key, std::string_view value) {
  pb::Writer kv, any;
  kv.bytes(1, key);
  any.bytes(1, value);  // string_value
  kv.message(2, any);
  parent.message(field, kv);
}

void otlp_attr(pb::Writer& parent, uint32_t field, std::string_view key, int64_t value) {
  pb::Writer kv, any;
  kv.bytes(1, key);
  any.sint64(3, value);  // int_value
  kv.message(2, any);
  parent.message(field, kv);
}

namespace {

void attr_bool(pb::Writer& parent, uint32_t field, std::string_view key, bool v) {
  pb::Writer kv, any;
  kv.bytes(1, key);
  any.boolean(2, v);
  kv.message(2, any);
  parent.message(field, kv);
}

void attr_double(pb::Writer& parent, uint32_t field, std::string_view key, double v) {
  pb::Writer kv, any;
  kv.bytes(1, key);
  any.dbl(4, v);
  kv.message(2, any);
  parent.message(field, kv);
}

// An argv as an ArrayValue of strings.
void attr_argv(pb::Writer& parent, uint32_t field, std::string_view key, std::string_view args) {
  pb::Writer kv, any, arr, item;
  while (!args.empty()) {
    size_t end = args.find('\0');
    item.clear();
    item.bytes(1, args.substr(0, end));
    arr.message(1, item);
    if (end == std::string_view::npos) break;
    args.remove_prefix(end + 1);
  }
  any.message(5, arr);
  kv.bytes(1, key);
  kv.message(2, any);
  parent.message(field, kv);
}

// Every schema field of `e` as an attribute (empty strings left out).
void schema_attrs(pb::Writer& w, uint32_t field, const core::Event& e) {
  auto emit = [&](const core::FieldDef& f) {
    core::Value v = f.get(e);
    switch (v.type) {
      case core::FieldType::kInt: otlp_attr(w, field, f.name, v.i); break;
      case core::FieldType::kUint:
      case core::FieldType::kTime:
      case core::FieldType::kDuration:
      case core::FieldType::kOctal: otlp_attr(w, field, f.name, static_cast<int64_t>(v.u)); break;
      case core::FieldType::kBool: attr_bool(w, field, f.name, v.b); break;
      case core::FieldType::kString:
        if (!v.s.empty()) otlp_attr(w, field, f.name, v.s);
        break;
      case core::FieldType::kArgv: attr_argv(w, field, f.name, v.s); break;
      case core::FieldType::kOpenFlags: {
        std::string t;
        core::append_open_flags(t, v.u);
        otlp_attr(w, field, f.name, t);
        break;
      }
      case core::FieldType::kErrno:
        if (v.i < 0) otlp_attr(w, field, f.name, core::errno_name(static_cast<int>(-v.i)));
        break;
    }
  };
  for (const auto& f : core::common_fields()) emit(f);
  for (const auto& f : core::kind_def(e.kind).fields) emit(f);
}

void resource(pb::Writer& out, const OtlpResource& r) {
  pb::Writer res;
  otlp_attr(res, 1, "service.name", "sightline");
  otlp_attr(res, 1, "service.version", SIGHTLINE_VERSION);
  otlp_attr(res, 1, "host.name", r.node);
  out.message(1, res);
}

void scope(pb::Writer& out) {
  pb::Writer s;
  s.bytes(1, "sightline");
  s.bytes(2, SIGHTLINE_VERSION);
  out.message(1, s);
}

void labels(pb::Writer& w, uint32_t field, const core::Labels& l) {
  for (const auto& [k, v] : l) otlp_attr(w, field, k, v);
}

}  // namespace

Batch otlp_metrics(const std::vector<core::MetricFamily>& families, const OtlpResource& res, uint64_t now_ns) {
  pb::Writer scope_metrics, metric, data, point;
  scope(scope_metrics);
  uint64_t n = 0;
  for (const auto& f : families) {
    metric.clear();
    data.clear();
    metric.bytes(1, f.name);
    metric.bytes(2, f.help);
    for (const auto& s : f.series) {
      point.clear();
      point.fixed64(2, res.start_ns);
      point.fixed64(3, now_ns);
      if (f.type == core::MetricType::kHistogram) {
        labels(point, 9, s.labels);
        uint64_t count = s.hist.count();
        point.fixed64(4, count);
        point.dbl(5, static_cast<double>(s.hist.sum()) * f.scale);
        uint64_t below = 0;
        for (uint64_t b : f.bounds) {
          uint64_t c = s.hist.count_below(b);
          point.fixed64(6, c - below);
          below = c;
        }
        point.fixed64(6, count - below);
        for (uint64_t b : f.bounds) point.dbl(7, static_cast<double>(b) * f.scale);
      } else {
        labels(point, 7, s.labels);
        point.dbl(4, s.value);
      }
      data.message(1, point);
      n++;
    }
    if (f.type == core::MetricType::kCounter) {
      data.varint(2, 2);  // cumulative
      data.boolean(3, true);
      metric.message(7, data);
    } else if (f.type == core::MetricType::kGauge) {
      metric.message(5, data);
    } else {
      data.varint(2, 2);
      metric.message(9, data);
    }
    scope_metrics.message(2, metric);
  }
  pb::Writer rm, req;
  resource(rm, res);
  rm.message(2, scope_metrics);
  req.message(1, rm);
  Batch b;
  b.target = "/v1/metrics";
  b.content_type = "application/x-protobuf";
  b.body = req.take();
  b.items = n;
  return b;
}

void OtlpBuffer::add_event_log(const core::Event& e) {
  pb::Writer rec;
  rec.fixed64(1, e.ts_wall_ns);
  rec.fixed64(11, e.ts_wall_ns);
  rec.varint(2, 9);  // INFO
  rec.bytes(3, "INFO");
  pb::Writer body;
  std::string_view kind = core::kind_def(e.kind).name;
  body.bytes(1, kind);
  rec.message(5, body);
  schema_attrs(rec, 6, e);
  rec.bytes(12, "sightline." + std::string(kind));
  logs_.message(2, rec);
  n_logs_++;
}

void OtlpBuffer::add_alert_log(const core::Alert& a) {
  pb::Writer rec;
  rec.fixed64(1, a.time_ns);
  rec.fixed64(11, a.time_ns);
  // Falco priorities onto OTel severities.
  std::string p = a.priority;  // Emergency ... Debug (rules::priority_name)
  for (auto& c : p) c = static_cast<char>(tolower(static_cast<unsigned char>(c)));
  int sev = p == "emergency" || p == "alert" ? 21
            : p == "critical"                ? 18
            : p == "error"                   ? 17
            : p == "warning"                 ? 13
            : p == "debug"                   ? 5
                                             : 9;
  rec.varint(2, static_cast<uint64_t>(sev));
  rec.bytes(3, a.priority);
  pb::Writer body;
  body.bytes(1, a.output);
  rec.message(5, body);
  otlp_attr(rec, 6, "alert.rule", a.rule);
  otlp_attr(rec, 6, "alert.priority", a.priority);
  otlp_attr(rec, 6, "alert.tags", a.tags_json);
  otlp_attr(rec, 6, "alert.ancestry", a.ancestry_json);
  otlp_attr(rec, 6, "evt.type", a.kind);
  otlp_attr(rec, 6, "proc.pid", static_cast<int64_t>(a.pid));
  otlp_attr(rec, 6, "proc.name", a.proc_name);
  if (!a.container_id.empty()) otlp_attr(rec, 6, "container.id", a.container_id);
  otlp_attr(rec, 6, "event", a.event_json);
  rec.bytes(12, "sightline.alert");
  logs_.message(2, rec);
  n_logs_++;
}

void OtlpBuffer::add_profile_log(uint64_t minute_ns, std::string_view folded) {
  pb::Writer rec;
  rec.fixed64(1, minute_ns);
  rec.fixed64(11, minute_ns);
  otlp_attr(rec, 6, "profile.time", static_cast<int64_t>(minute_ns));
  otlp_attr(rec, 6, "profile.folded", folded);
  rec.bytes(12, "sightline.profile");
  logs_.message(2, rec);
  n_logs_++;
}

void OtlpBuffer::add_request_span(const core::Event& e) {
  if (!rng_) rng_ = std::random_device{}() | (uint64_t{std::random_device{}()} << 32) | 1;
  auto next = [&] {  // xorshift: ids need to be unique, not secret
    rng_ ^= rng_ << 13;
    rng_ ^= rng_ >> 7;
    rng_ ^= rng_ << 17;
    return rng_;
  };
  uint64_t id[3] = {next(), next(), next()};
  pb::Writer span;
  // A request that carried a W3C traceparent continues its trace, as a child of the calling span
  // (the client's side too: a child of the span the instrumented client sent).
  auto unhex = [](std::string_view h) {
    std::string b(h.size() / 2, '\0');
    for (size_t i = 0; i < b.size(); i++) b[i] = static_cast<char>(std::stoi(std::string(h.substr(2 * i, 2)), nullptr, 16));
    return b;
  };
  // A request made while serving another: its trace and parent are the served one's, whose span
  // id the tracker chose (span_id).
  if (e.trace_id.size() == 32) span.bytes(1, unhex(e.trace_id));
  else span.bytes(1, std::string_view(reinterpret_cast<const char*>(id), 16));
  if (e.span_id.size() == 16) span.bytes(2, unhex(e.span_id));
  else span.bytes(2, std::string_view(reinterpret_cast<const char*>(&id[2]), 8));
  if (e.parent_span_id.size() == 16) span.bytes(4, unhex(e.parent_span_id));
  bool server = e.role == 2;
  bool http = e.protocol == "http" || e.protocol == "http2";
  bool dns = e.protocol == "dns", grpc = e.protocol == "grpc";
  // gRPC: the path is /package.Service/Method; the span is named service/method.
  std::string_view rpc = e.target.starts_with("/") ? e.target.substr(1) : e.target;
  size_t slash = rpc.rfind('/');
  std::string name;
  if (http) name = std::string(e.method) + " " + std::string(e.target);
  else if (dns) name = "DNS " + std::string(e.method);
  else if (grpc) name = std::string(rpc);
  else name = std::string(e.method).empty() ? std::string(e.protocol) : std::string(e.method);
  span.bytes(5, name);
  span.varint(6, server ? 2 : 3);
  uint64_t end = e.ts_wall_ns, start = end - std::min(end, e.duration_ns);
  span.fixed64(7, start);
  span.fixed64(8, end);
  // Semantic conventions (HTTP, database, DNS, network), then sightline's own names.
  std::string_view server_addr = server ? e.laddr : e.raddr, client_addr = server ? e.raddr : e.laddr;
  uint16_t server_port = server ? e.lport : e.rport, client_port = server ? e.rport : e.lport;
  otlp_attr(span, 9, "server.address", !server && !e.rname.empty() ? e.rname : server_addr);
  otlp_attr(span, 9, "server.port", int64_t{server_port});
  otlp_attr(span, 9, "client.address", client_addr);
  otlp_attr(span, 9, "client.port", int64_t{client_port});
  otlp_attr(span, 9, "network.peer.address", e.raddr);
  otlp_attr(span, 9, "network.peer.port", int64_t{e.rport});
  otlp_attr(span, 9, "network.transport", dns ? "udp" : "tcp");
  if (http) {
    otlp_attr(span, 9, "http.request.method", e.method);
    otlp_attr(span, 9, "http.route", e.target);
    if (!e.no_response) otlp_attr(span, 9, "http.response.status_code", int64_t{e.status});
    std::string_view req = e.request;  // "GET /path?q HTTP/1.1" (HTTP/2: the path): the path as sent
    size_t sp = req.find(' ');
    if (sp != std::string_view::npos) {
      std::string_view rest = req.substr(sp + 1);
      otlp_attr(span, 9, "url.path", rest.substr(0, std::min(rest.find(' '), rest.find('?'))));
    } else if (!req.empty()) {
      otlp_attr(span, 9, "url.path", req.substr(0, req.find('?')));
    }
    if (e.protocol == "http2") otlp_attr(span, 9, "network.protocol.version", "2");
  } else if (grpc) {
    otlp_attr(span, 9, "rpc.system", "grpc");
    if (slash != std::string_view::npos) {
      otlp_attr(span, 9, "rpc.service", rpc.substr(0, slash));
      otlp_attr(span, 9, "rpc.method", rpc.substr(slash + 1));
    }
    if (!e.no_response) otlp_attr(span, 9, "rpc.grpc.status_code", int64_t{e.status});
  } else if (dns) {
    otlp_attr(span, 9, "dns.question.name", e.target);
    otlp_attr(span, 9, "dns.question.type", e.method);
  } else {
    std::string_view system = e.protocol == "pgsql" ? "postgresql" : e.protocol;
    otlp_attr(span, 9, "db.system.name", system);
    otlp_attr(span, 9, "db.operation.name", e.method);
    otlp_attr(span, 9, "db.query.text", e.target);
    if (e.rows >= 0) otlp_attr(span, 9, "db.response.returned_rows", e.rows);
  }
  otlp_attr(span, 9, "process.pid", int64_t{e.pid});
  otlp_attr(span, 9, "process.executable.name", e.comm);
  if (!e.container_id.empty()) otlp_attr(span, 9, "container.id", e.container_id);
  if (e.tls) attr_bool(span, 9, "sightline.tls", true);
  attr_double(span, 9, "sightline.latency_seconds", static_cast<double>(e.duration_ns) / 1e9);
  // A server's timeline (the schema's req.* fields) as sightline.req.* (times in ns); its
  // downstream calls are its child spans. Retransmits wherever they were measured.
  for (const auto& f : core::kind_def(core::EventKind::kRequest).fields) {
    if (!f.name.starts_with("req.")) continue;
    if (f.name == "req.retransmits" ? e.req_retransmits < 0 : !(e.timeline || e.downstream)) continue;
    core::Value v = f.get(e);
    std::string key = "sightline." + std::string(f.name);
    if (v.type == core::FieldType::kString) otlp_attr(span, 9, key, v.s);
    else if (v.type == core::FieldType::kInt) otlp_attr(span, 9, key, v.i);
    else otlp_attr(span, 9, key, static_cast<int64_t>(v.u));
  }
  if (e.error) {
    pb::Writer st;
    if (!e.error_text.empty()) st.bytes(2, e.error_text);
    st.varint(3, 2);  // ERROR
    span.message(15, st);
    otlp_attr(span, 9, "error.type", http ? std::to_string(e.status) : std::string(e.error_text.empty() ? "error" : e.error_text));
  }
  spans_.message(2, span);
  n_spans_++;
}

std::vector<Batch> OtlpBuffer::take() {
  std::vector<Batch> out;
  auto wrap = [&](pb::Writer& items, uint64_t n, const char* target) {
    if (!n) return;
    pb::Writer scoped, resourced, req;
    scope(scoped);
    // The items were written as field 2 of the scope message: append them as they are.
    std::string scope_bytes = scoped.take() + items.take();
    resource(resourced, res_);
    resourced.bytes(2, scope_bytes);
    req.message(1, resourced);
    Batch b;
    b.target = target;
    b.content_type = "application/x-protobuf";
    b.body = req.take();
    b.items = n;
    out.push_back(std::move(b));
  };
  wrap(logs_, n_logs_, "/v1/logs");
  wrap(spans_, n_spans_, "/v1/traces");
  n_logs_ = n_spans_ = 0;
  return out;
}

}  // namespace sightline::exporter
