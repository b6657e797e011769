#include "profile/profile.h"

#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <sstream>
#include <unordered_map>

namespace sightline::profile {

namespace {
std::string frame_name(const symbols::Frame& f) {
  std::string n = f.function;
  if (n == "[unknown]" && !f.module.empty() && f.module != "[unknown]") {
    size_t slash = f.module.rfind('/');
    n = "[" + (slash == std::string::npos ? f.module : f.module.substr(slash + 1)) + "]";
  }
  for (auto& c : n)
    if (c == ';' || c == '\n') c = ':';  // the folded separator cannot appear in a frame
  return f.kernel ? n + "_[k]" : n;
}
}  // namespace

std::string folded_stack(const Profile::Entry& e) {
  std::string line = e.comm.empty() ? "[unknown]" : e.comm;
  for (auto& c : line)
    if (c == ';' || c == ' ') c = '_';
  for (const auto& f : e.frames) line += ";" + frame_name(f);
  return line;
}

std::string to_folded(const Profile& p) {
  std::map<std::string, uint64_t> lines;  // merged and sorted: stable output
  for (const auto& e : p.entries) lines[folded_stack(e)] += e.value;
  std::string out;
  for (const auto& [l, v] : lines) out += l + " " + std::to_string(v) + "\n";
  return out;
}

// --- pprof: a minimal protobuf writer (varints, length-delimited fields) ---
namespace {
class Pb {
 public:
  void varint(uint64_t v) {
    while (v >= 0x80) {
      buf_ += static_cast<char>((v & 0x7f) | 0x80);
      v >>= 7;
    }
    buf_ += static_cast<char>(v);
  }
  void tag(int field, int wire) { varint(static_cast<uint64_t>(field) << 3 | static_cast<uint64_t>(wire)); }
  void u64(int field, uint64_t v) {
    if (!v) return;
    tag(field, 0);
    varint(v);
  }
  void bytes(int field, std::string_view s) {
    tag(field, 2);
    varint(s.size());
    buf_.append(s);
  }
  void packed(int field, const std::vector<uint64_t>& v) {
    Pb inner;
    for (auto x : v) inner.varint(x);
    bytes(field, inner.buf_);
  }
  void msg(int field, const Pb& m) { bytes(field, m.buf_); }
  const std::string& str() const { return buf_; }

 private:
  std::string buf_;
};

class Strings {
 public:
  Strings() { index(""); }
  uint64_t index(const std::string& s) {
    auto [it, fresh] = ids_.emplace(s, list_.size());
    if (fresh) list_.push_back(s);
    return it->second;
  }
  const std::vector<std::string>& list() const { return list_; }

 private:
  std::unordered_map<std::string, uint64_t> ids_;
  std::vector<std::string> list_;
};
}  // namespace

std::string to_pprof(const Profile& p) {
  Pb prof;
  Strings strs;
  auto value_type = [&](const char* type, const char* unit) {
    Pb vt;
    vt.u64(1, strs.index(type));
    vt.u64(2, strs.index(unit));
    return vt;
  };
  if (p.offcpu) {
    prof.msg(1, value_type("offcpu", "nanoseconds"));
  } else {
    prof.msg(1, value_type("samples", "count"));
    prof.msg(1, value_type("cpu", "nanoseconds"));
  }
  std::map<std::string, uint64_t> mappings;                      // module -> id
  std::map<std::pair<std::string, std::string>, uint64_t> funcs;  // (name, module) -> id
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> locs;         // (function, mapping) -> id
  Pb samples, mapping_msgs, loc_msgs, func_msgs;
  for (const auto& e : p.entries) {
    std::vector<uint64_t> ids;
    for (auto it = e.frames.rbegin(); it != e.frames.rend(); ++it) {  // leaf first
      const auto& f = *it;
      std::string name = f.kernel ? f.function + " [k]" : f.function;
      auto [mit, mnew] = mappings.emplace(f.module, mappings.size() + 1);
      if (mnew) {
        Pb m;
        m.u64(1, mit->second);
        m.u64(5, strs.index(f.module));
        m.u64(7, 1);  // has_functions: already symbolized
        mapping_msgs.msg(3, m);
      }
      auto [fit, fnew] = funcs.emplace(std::make_pair(name, f.module), funcs.size() + 1);
      if (fnew) {
        Pb fn;
        fn.u64(1, fit->second);
        fn.u64(2, strs.index(name));
        fn.u64(3, strs.index(name));
        fn.u64(4, strs.index(f.module));
        func_msgs.msg(5, fn);
      }
      auto [lit, lnew] = locs.emplace(std::make_pair(fit->second, mit->second), locs.size() + 1);
      if (lnew) {
        Pb loc, line;
        loc.u64(1, lit->second);
        loc.u64(2, mit->second);
        line.u64(1, fit->second);
        loc.msg(4, line);
        loc_msgs.msg(4, loc);
      }
      ids.push_back(lit->second);
    }
    Pb s;
    s.packed(1, ids);
    if (p.offcpu)
      s.packed(2, {e.value});
    else
      s.packed(2, {e.value, e.value * p.period_ns});
    Pb pid, comm;
    pid.u64(1, strs.index("pid"));
    pid.u64(3, e.pid);
    comm.u64(1, strs.index("comm"));
    comm.u64(2, strs.index(e.comm));
    s.msg(3, pid);
    s.msg(3, comm);
    samples.msg(2, s);
  }
  Pb rest;
  rest.u64(9, p.start_unix_ns);
  rest.u64(10, p.duration_ns);
  rest.msg(11, p.offcpu ? value_type("offcpu", "nanoseconds") : value_type("cpu", "nanoseconds"));
  rest.u64(12, p.offcpu ? 1 : p.period_ns);
  Pb table;  // last: every string above is in it by now
  for (const auto& s : strs.list()) table.bytes(6, s);
  return prof.str() + samples.str() + mapping_msgs.str() + loc_msgs.str() + func_msgs.str() + rest.str() +
         table.str();
}

core::Status parse_folded(std::string_view text, std::vector<FoldedStack>* out) {
  std::vector<FoldedStack> stacks;
  size_t line_no = 0, pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    line_no++;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    size_t sp = line.rfind(' ');
    if (sp == std::string_view::npos || sp == 0)
      return core::Status::error(EINVAL, "line " + std::to_string(line_no) + ": expected 'frame;frame;... COUNT'");
    std::string_view num = line.substr(sp + 1);
    uint64_t v = 0;
    for (char c : num) {
      if (c < '0' || c > '9' || v > (UINT64_MAX - 9) / 10)
        return core::Status::error(EINVAL, "line " + std::to_string(line_no) + ": '" + std::string(num) +
                                               "' is not a count");
      v = v * 10 + static_cast<uint64_t>(c - '0');
    }
    FoldedStack s;
    s.value = v;
    std::string_view frames = line.substr(0, sp);
    size_t fp = 0;
    while (fp <= frames.size()) {
      size_t semi = frames.find(';', fp);
      if (semi == std::string_view::npos) semi = frames.size();
      s.frames.emplace_back(frames.substr(fp, semi - fp));
      fp = semi + 1;
    }
    stacks.push_back(std::move(s));
  }
  *out = std::move(stacks);
  return {};
}

namespace {
struct Node {
  std::string name;
  uint64_t value = 0;
  std::map<std::string, std::unique_ptr<Node>> children;
};

void xml_escape(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
}

uint32_t hash(std::string_view s) {
  uint32_t h = 2166136261u;
  for (char c : s) h = (h ^ static_cast<uint8_t>(c)) * 16777619u;
  return h;
}
}  // namespace

std::string flamegraph_svg(const std::vector<FoldedStack>& stacks, const std::string& title,
                           const std::string& unit) {
  Node root;
  root.name = "all";
  size_t depth = 0;
  for (const auto& s : stacks) {
    Node* n = &root;
    n->value += s.value;
    for (const auto& f : s.frames) {
      auto& c = n->children[f];
      if (!c) c = std::make_unique<Node>(), c->name = f;
      n = c.get();
      n->value += s.value;
    }
    depth = std::max(depth, s.frames.size());
  }
  const double width = 1200, row = 16, top = 40;
  const double height = top + row * static_cast<double>(depth + 1) + 10;
  std::string out;
  char buf[512];
  snprintf(buf, sizeof buf,
           "<?xml version=\"1.0\" standalone=\"no\"?>\n<svg version=\"1.1\" width=\"%.0f\" height=\"%.0f\" "
           "viewBox=\"0 0 %.0f %.0f\" xmlns=\"http://www.w3.org/2000/svg\" onload=\"init(evt)\">\n",
           width, height, width, height);
  out += buf;
  out +=
      "<style>text{font-family:monospace;font-size:12px;pointer-events:none}g.f:hover rect{stroke:#000;"
      "stroke-width:0.5}#title{font-size:17px}#reset{cursor:pointer;fill:#36c}</style>\n"
      "<script><![CDATA[\n"
      "var W=" + std::to_string(static_cast<int>(width)) + ",frames;\n"
      "function init(e){frames=[].slice.call(document.querySelectorAll('g.f'));"
      "frames.forEach(function(g){g.onclick=function(){zoom(g)};});"
      "document.getElementById('reset').onclick=function(){zoom(null)};}\n"
      "function zoom(t){var x0=t?+t.dataset.x:0,w0=t?+t.dataset.w:1,d0=t?+t.dataset.d:0;"
      "frames.forEach(function(g){var x=+g.dataset.x,w=+g.dataset.w,d=+g.dataset.d,r=g.querySelector('rect'),"
      "s=g.querySelector('text');var inside=x>=x0-1e-9&&x+w<=x0+w0+1e-9,anc=d<d0&&x<=x0+1e-9&&x+w>=x0+w0-1e-9;"
      "if(!t||inside||anc){g.style.display='';var nx=anc?0:(x-x0)/w0*W,nw=anc?W:w/w0*W;"
      "r.setAttribute('x',nx);r.setAttribute('width',Math.max(nw-0.5,0));s.setAttribute('x',nx+3);"
      "var n=Math.floor((nw-6)/7.2),l=g.dataset.n;s.textContent=n<3?'':(l.length<=n?l:l.slice(0,n-2)+'..');}"
      "else g.style.display='none';});}\n"
      "]]></script>\n";
  out += "<rect x=\"0\" y=\"0\" width=\"100%\" height=\"100%\" fill=\"#fdfdf6\"/>\n";
  out += "<text id=\"title\" x=\"" + std::to_string(static_cast<int>(width / 2)) + "\" y=\"24\" text-anchor=\"middle\">";
  xml_escape(out, title);
  out += "</text>\n<text id=\"reset\" x=\"10\" y=\"24\">Reset zoom</text>\n";
  const double total = root.value ? static_cast<double>(root.value) : 1;
  // Depth-first, x as a fraction of the total; the root at the bottom.
  struct Item {
    const Node* n;
    double x;
    size_t d;
  };
  std::vector<Item> todo = {{&root, 0, 0}};
  while (!todo.empty()) {
    Item it = todo.back();
    todo.pop_back();
    double w = static_cast<double>(it.n->value) / total;
    if (w * width < 0.1) continue;
    double y = height - 10 - row * static_cast<double>(it.d + 1);
    bool kernel = it.n->name.ends_with("_[k]");
    uint32_t h = hash(it.n->name);
    int r = kernel ? 230 : 205 + static_cast<int>(h % 50), g = kernel ? 140 + static_cast<int>(h % 60) : 80 + static_cast<int>((h >> 8) % 140),
        b = kernel ? 40 : static_cast<int>((h >> 16) % 55);
    std::string name = it.n->name;
    out += "<g class=\"f\" data-x=\"" + std::to_string(it.x) + "\" data-w=\"" + std::to_string(w) +
           "\" data-d=\"" + std::to_string(it.d) + "\" data-n=\"";
    xml_escape(out, name);
    out += "\"><title>";
    xml_escape(out, name);
    snprintf(buf, sizeof buf, " (%llu %s, %.2f%%)", static_cast<unsigned long long>(it.n->value), unit.c_str(),
             100.0 * w);
    out += buf;
    out += "</title>";
    snprintf(buf, sizeof buf,
             "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"rgb(%d,%d,%d)\" rx=\"2\"/>",
             it.x * width, y, std::max(w * width - 0.5, 0.0), row - 1, r, g, b);
    out += buf;
    snprintf(buf, sizeof buf, "<text x=\"%.1f\" y=\"%.1f\">", it.x * width + 3, y + row - 4);
    out += buf;
    size_t fit = w * width > 6 ? static_cast<size_t>((w * width - 6) / 7.2) : 0;
    if (fit >= 3) xml_escape(out, name.size() <= fit ? name : name.substr(0, fit - 2) + "..");
    out += "</text></g>\n";
    double cx = it.x;
    for (const auto& [k, c] : it.n->children) {
      todo.push_back({c.get(), cx, it.d + 1});
      cx += static_cast<double>(c->value) / total;
    }
  }
  out += "</svg>\n";
  return out;
}

bool complete_stack(const std::vector<symbols::Frame>& frames) {
  static const char* const roots[] = {"main", "_start", "__libc_start_main", "__libc_start_call_main",
                                      "clone", "clone3", "__clone", "__clone3", "start_thread"};
  for (const auto& f : frames) {
    if (f.kernel) continue;
    for (const char* r : roots)
      if (f.function == r) return true;
  }
  return false;
}

}  // namespace sightline::profile
