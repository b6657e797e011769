#include "aggregator/otlp_decode.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "core/render.h"
#include "core/schema.h"
#include "export/protobuf.h"

namespace sightline::aggregator {
namespace {

using exporter::pb::Reader;

core::Status malformed(const char* what) { return core::Status::error(EINVAL, std::string("malformed ") + what); }

// An AnyValue: its text (strings; arrays as a JSON array of strings), or number.
struct Any {
  enum Kind { kNone, kString, kBool, kInt, kDouble, kArray } kind = kNone;
  std::string_view s;
  int64_t i = 0;
  double d = 0;
  std::vector<std::string_view> items;
};

bool read_any(std::string_view b, Any* a) {
  Reader r(b);
  while (r.next()) {
    switch (r.field()) {
      case 1: a->kind = Any::kString, a->s = r.bytes(); break;
      case 2: a->kind = Any::kBool, a->i = r.u64() != 0; break;
      case 3: a->kind = Any::kInt, a->i = r.i64(); break;
      case 4: a->kind = Any::kDouble, a->d = r.dbl(); break;
      case 5: {
        a->kind = Any::kArray;
        Reader arr(r.bytes());
        while (arr.next())
          if (arr.field() == 1) {
            Any item;
            if (!read_any(arr.bytes(), &item)) return false;
            if (item.kind == Any::kString && a->items.size() < 4096) a->items.push_back(item.s);
          }
        if (arr.error()) return false;
        break;
      }
      default: break;
    }
  }
  return !r.error();
}

bool read_kv(std::string_view b, std::string_view* key, Any* value) {
  Reader r(b);
  while (r.next()) {
    if (r.field() == 1) *key = r.bytes();
    if (r.field() == 2 && !read_any(r.bytes(), value)) return false;
  }
  return !r.error();
}

std::string any_text(const Any& a) {
  switch (a.kind) {
    case Any::kString: return std::string(a.s);
    case Any::kInt: return std::to_string(a.i);
    case Any::kBool: return a.i ? "true" : "false";
    case Any::kDouble: {
      char buf[32];
      snprintf(buf, sizeof buf, "%.17g", a.d);
      return buf;
    }
    case Any::kArray: {
      std::string j = "[";
      for (size_t i = 0; i < a.items.size(); i++) {
        if (i) j += ',';
        core::append_json_string(j, a.items[i]);
      }
      return j + "]";
    }
    default: return "";
  }
}

// The resource's host.name.
bool resource_node(std::string_view b, std::string* node) {
  Reader r(b);
  while (r.next())
    if (r.field() == 1) {
      std::string_view k;
      Any v;
      if (!read_kv(r.bytes(), &k, &v)) return false;
      if (k == "host.name") *node = any_text(v);
    }
  return !r.error();
}

core::Status number_point(std::string_view b, const std::string& node, const std::string& name,
                          const std::string& help, core::MetricType type, std::vector<Point>* out) {
  Reader r(b);
  Point p{node, name, type, help, {}, 0, 0};
  while (r.next()) {
    switch (r.field()) {
      case 7: {
        std::string_view k;
        Any v;
        if (!read_kv(r.bytes(), &k, &v)) return malformed("attribute");
        p.labels.emplace_back(std::string(k), any_text(v));
        break;
      }
      case 3: p.time_ns = r.u64(); break;
      case 4: p.value = r.dbl(); break;
      case 6: p.value = static_cast<double>(r.i64()); break;
      default: break;
    }
  }
  if (r.error()) return malformed("data point");
  std::sort(p.labels.begin(), p.labels.end());
  out->push_back(std::move(p));
  return {};
}

core::Status histogram_point(std::string_view b, const std::string& node, const std::string& name,
                             const std::string& help, std::vector<Point>* out) {
  Reader r(b);
  core::Labels labels;
  uint64_t time = 0, count = 0;
  double sum = 0;
  std::vector<uint64_t> counts;
  std::vector<double> bounds;
  auto packed_or_one = [&](auto add) {
    if (r.wire() == 2) {  // packed
      std::string_view p = r.bytes();
      for (size_t i = 0; i + 8 <= p.size() && i < 8 * 4096; i += 8) {
        uint64_t v;
        memcpy(&v, p.data() + i, 8);
        add(v);
      }
    } else {
      add(r.u64());
    }
  };
  while (r.next()) {
    switch (r.field()) {
      case 9: {
        std::string_view k;
        Any v;
        if (!read_kv(r.bytes(), &k, &v)) return malformed("attribute");
        labels.emplace_back(std::string(k), any_text(v));
        break;
      }
      case 3: time = r.u64(); break;
      case 4: count = r.u64(); break;
      case 5: sum = r.dbl(); break;
      case 6: packed_or_one([&](uint64_t v) { if (counts.size() < 4096) counts.push_back(v); }); break;
      case 7:
        packed_or_one([&](uint64_t v) {
          double d;
          memcpy(&d, &v, 8);
          if (bounds.size() < 4096) bounds.push_back(d);
        });
        break;
      default: break;
    }
  }
  if (r.error()) return malformed("histogram point");
  if (!counts.empty() && counts.size() != bounds.size() + 1) return malformed("histogram (bucket counts and bounds)");
  std::sort(labels.begin(), labels.end());
  // Cumulative buckets with le, then _sum and _count: as Prometheus names them.
  uint64_t cum = 0;
  for (size_t i = 0; i < counts.size(); i++) {
    cum += counts[i];
    core::Labels l = labels;
    char le[32];
    if (i < bounds.size())
      snprintf(le, sizeof le, "%.9g", bounds[i]);
    else
      snprintf(le, sizeof le, "+Inf");
    l.emplace_back("le", le);
    std::sort(l.begin(), l.end());
    out->push_back({node, name + "_bucket", core::MetricType::kCounter, help, std::move(l), static_cast<double>(cum), time});
  }
  out->push_back({node, name + "_sum", core::MetricType::kCounter, help, labels, sum, time});
  out->push_back({node, name + "_count", core::MetricType::kCounter, help, labels, static_cast<double>(count), time});
  return {};
}

core::Status metric(std::string_view b, const std::string& node, std::vector<Point>* out) {
  Reader r(b);
  std::string name, help;
  std::vector<std::pair<uint32_t, std::string_view>> data;
  while (r.next()) {
    if (r.field() == 1) name = r.bytes();
    else if (r.field() == 2) help = r.bytes();
    else if (r.field() == 5 || r.field() == 7 || r.field() == 9) data.emplace_back(r.field(), r.bytes());
  }
  if (r.error() || name.empty()) return malformed("metric");
  for (const auto& [kind, bytes] : data) {
    Reader d(bytes);
    bool monotonic = false;
    std::vector<std::string_view> points;
    while (d.next()) {
      if (d.field() == 1) points.push_back(d.bytes());
      if (d.field() == 3) monotonic = d.u64() != 0;
    }
    if (d.error()) return malformed("metric data");
    for (auto p : points) {
      core::Status st = kind == 9 ? histogram_point(p, node, name, help, out)
                                  : number_point(p, node, name, help,
                                                 kind == 7 && monotonic ? core::MetricType::kCounter : core::MetricType::kGauge, out);
      if (!st) return st;
    }
  }
  return {};
}

// Walks Export*ServiceRequest -> Resource* -> Scope* -> items (field 2 of the scope message).
template <class F>
core::Status walk(std::string_view body, const char* what, F on_item) {
  Reader req(body);
  while (req.next()) {
    if (req.field() != 1) continue;
    Reader rs(req.bytes());
    std::string node;
    std::vector<std::string_view> scopes;
    while (rs.next()) {
      if (rs.field() == 1 && !resource_node(rs.bytes(), &node)) return malformed("resource");
      if (rs.field() == 2) scopes.push_back(rs.bytes());
    }
    if (rs.error()) return malformed(what);
    for (auto s : scopes) {
      Reader sc(s);
      while (sc.next())
        if (sc.field() == 2)
          if (auto st = on_item(sc.bytes(), node); !st) return st;
      if (sc.error()) return malformed(what);
    }
  }
  if (req.error()) return malformed(what);
  return {};
}

}  // namespace

core::Status decode_metrics(std::string_view body, std::vector<Point>* out, DecodeStats* stats) {
  size_t before = out->size();
  auto st = walk(body, "metrics request", [&](std::string_view m, const std::string& node) { return metric(m, node, out); });
  stats->points += out->size() - before;
  return st;
}

core::Status decode_logs(std::string_view body, std::vector<EventRow>* out, DecodeStats* stats,
                         std::vector<ProfileRow>* profiles, std::vector<AlertRow>* alerts) {
  return walk(body, "logs request", [&](std::string_view rec, const std::string& node) -> core::Status {
    stats->logs++;
    Reader r(rec);
    std::string_view event_name;
    std::map<std::string_view, Any> attrs;
    Any body;
    uint64_t time_ns = 0;
    while (r.next()) {
      if (r.field() == 1 && r.wire() == 1) time_ns = r.u64();
      if (r.field() == 12) event_name = r.bytes();
      if (r.field() == 5 && !read_any(r.bytes(), &body)) return malformed("log body");
      if (r.field() == 6) {
        std::string_view k;
        Any v;
        if (!read_kv(r.bytes(), &k, &v)) return malformed("log attribute");
        if (attrs.size() < 512) attrs[k] = std::move(v);
      }
    }
    if (r.error()) return malformed("log record");
    if (event_name == "sightline.alert") {
      stats->alerts++;
      if (!alerts) return {};
      auto text = [&](std::string_view k) {
        auto it = attrs.find(k);
        return it == attrs.end() ? std::string() : any_text(it->second);
      };
      AlertRow a{node, {}};
      a.alert.time_ns = time_ns;
      a.alert.rule = text("alert.rule");
      a.alert.priority = text("alert.priority");
      a.alert.output = any_text(body);
      a.alert.tags_json = text("alert.tags");
      a.alert.ancestry_json = text("alert.ancestry");
      a.alert.kind = text("evt.type");
      if (auto it = attrs.find("proc.pid"); it != attrs.end() && it->second.kind == Any::kInt)
        a.alert.pid = static_cast<uint32_t>(it->second.i);
      a.alert.proc_name = text("proc.name");
      a.alert.container_id = text("container.id");
      a.alert.event_json = text("event");
      alerts->push_back(std::move(a));
      return {};
    }
    if (event_name == "sightline.profile") {
      auto t = attrs.find("profile.time");
      auto f = attrs.find("profile.folded");
      if (t == attrs.end() || t->second.kind != Any::kInt || t->second.i < 0 || f == attrs.end() || f->second.kind != Any::kString)
        return malformed("profile record (profile.time and profile.folded)");
      stats->profiles++;
      if (profiles) profiles->push_back({node, static_cast<uint64_t>(t->second.i), std::string(f->second.s)});
      return {};
    }
    const core::KindDef* kind = event_name.starts_with("sightline.") ? core::find_kind(event_name.substr(10)) : nullptr;
    if (!kind) {
      stats->other_logs++;
      return {};
    }
    EventRow row{node, {}};
    core::Record& rec_out = row.record;
    rec_out.kind = kind->kind;
    auto cell = [&](const core::FieldDef& f) {
      core::Record::Cell c;
      auto it = attrs.find(f.name);
      if (core::column_type(f.type) == core::ColumnType::kText) {
        c.is_text = true;
        c.off = static_cast<uint32_t>(rec_out.text.size());
        if (it != attrs.end()) rec_out.text += any_text(it->second);
        c.len = static_cast<uint32_t>(rec_out.text.size() - c.off);
      } else if (it != attrs.end()) {
        const Any& a = it->second;
        c.i = a.kind == Any::kDouble ? static_cast<int64_t>(a.d) : a.i;
      }
      if (f.name == "evt.time") rec_out.time_ns = static_cast<uint64_t>(c.i);
      rec_out.cells.push_back(c);
    };
    for (const auto& f : core::common_fields()) cell(f);
    for (const auto& f : kind->fields) cell(f);
    stats->events++;
    out->push_back(std::move(row));
    return {};
  });
}

core::Status decode_traces(std::string_view body, DecodeStats* stats) {
  return walk(body, "traces request", [&](std::string_view, const std::string&) -> core::Status {
    stats->spans++;
    return {};
  });
}

}  // namespace sightline::aggregator
