#include "protocols/routes.h"

namespace sightline::protocols {

size_t RouteClusters::count(const Node& n) const {
  size_t c = 0;
  for (const auto& [seg, child] : n.children) c += 1 + count(*child);
  if (n.wild) c += 1 + count(*n.wild);
  return c;
}

namespace {

// `path` fits `tmpl` segment by segment; `{...}` in the template fits any one segment.
bool fits(std::string_view tmpl, std::string_view path) {
  while (true) {
    size_t ts = tmpl.find('/'), ps = path.find('/');
    std::string_view t = tmpl.substr(0, ts), p = path.substr(0, ps);
    bool any = t.size() >= 2 && t.front() == '{' && t.back() == '}';
    if (!any && t != p) return false;
    if ((ts == std::string_view::npos) != (ps == std::string_view::npos)) return false;
    if (ts == std::string_view::npos) return true;
    tmpl.remove_prefix(ts + 1);
    path.remove_prefix(ps + 1);
  }
}

}  // namespace

std::string RouteClusters::route(std::string_view scope, std::string_view path) {
  for (const auto& t : templates_)
    if (fits(t, path)) return t;
  auto sit = scopes_.find(scope);
  if (sit == scopes_.end()) {
    if (nodes_ >= max_nodes_) {
      bounded_++;
      return std::string(kWildcard);
    }
    sit = scopes_.try_emplace(std::string(scope)).first;
    nodes_++;
  }
  Node* n = &sit->second;
  std::string out;
  out.reserve(path.size());
  size_t pos = 0;
  bool first = true;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    std::string_view seg = path.substr(pos, slash == std::string_view::npos ? std::string_view::npos : slash - pos);
    if (!first) out += '/';
    first = false;
    if (n->wild) {
      n = n->wild.get();
      out += kWildcard;
    } else if (auto it = n->children.find(seg); it != n->children.end()) {
      n = it->second.get();
      out += seg;
    } else if (n->children.size() >= max_values_) {
      // The position varies: its literals and what grew under them go, one wildcard stays.
      nodes_ -= count(*n);
      n->children.clear();
      n->wild = std::make_unique<Node>();
      nodes_++;
      collapsed_++;
      n = n->wild.get();
      out += kWildcard;
    } else if (nodes_ >= max_nodes_) {
      // No room to learn: the rest of the path is one wildcard.
      bounded_++;
      out += kWildcard;
      break;
    } else {
      n = n->children.try_emplace(std::string(seg), std::make_unique<Node>()).first->second.get();
      nodes_++;
      out += seg;
    }
    if (slash == std::string_view::npos) break;
    pos = slash + 1;
  }
  return out;
}

}  // namespace sightline::protocols
