// Routes that cluster themselves: HTTP paths whose segments vary (user names, slugs, file
// names) become one route, so RED series stay few without a list of patterns. Per scope (a
// process and protocol), a trie of path segments; a position that shows more than kMaxValues
// distinct values under the same prefix becomes the wildcard `{x}` for every path after it,
// and its literal subtree is forgotten. Pure: no clock, no I/O; bounded in nodes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace sightline::protocols {

class RouteClusters {
 public:
  // Distinct literal segments under one prefix before the position is a wildcard: more than a
  // hand-written API has at one level (/api/{v1,v2}, /users/{id}/{orders,cart}), fewer than
  // names, slugs or files reach.
  static constexpr size_t kMaxValues = 16;
  // Trie nodes in all (~100 bytes each and their segment): past it, new segments are `{x}`.
  static constexpr size_t kMaxNodes = 50000;
  static constexpr std::string_view kWildcard = "{x}";

  explicit RouteClusters(size_t max_nodes = kMaxNodes, size_t max_values = kMaxValues)
      : max_nodes_(max_nodes), max_values_(max_values) {}
  // `/u/alice/x12` -> `/u/{x}/{x}` once those positions are seen to vary within `scope`.
  std::string route(std::string_view scope, std::string_view path);
  // Route templates a user gave (`/api/users/{id}/orders`): a path with as many segments, each
  // equal or under a `{...}` segment, is that route, before anything is learnt.
  void set_templates(std::vector<std::string> templates) { templates_ = std::move(templates); }

  size_t nodes() const { return nodes_; }
  uint64_t collapsed() const { return collapsed_; }   // positions turned into wildcards
  uint64_t bounded() const { return bounded_; }       // segments made `{x}` by the node bound
  // Changes whenever a route already given may now be given differently (a collapse).
  uint64_t generation() const { return collapsed_ + bounded_; }

 private:
  struct Node {
    std::map<std::string, std::unique_ptr<Node>, std::less<>> children;
    std::unique_ptr<Node> wild;  // set once the position varies: every segment goes here
  };
  size_t count(const Node& n) const;
  std::map<std::string, Node, std::less<>> scopes_;
  std::vector<std::string> templates_;
  size_t max_nodes_, max_values_;
  size_t nodes_ = 0;
  uint64_t collapsed_ = 0, bounded_ = 0;
};

}  // namespace sightline::protocols
