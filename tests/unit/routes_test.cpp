// Routes that cluster themselves (protocols/routes.h): positions that vary become {x}, stable
// ones stay literal, scopes are apart, and the trie is bounded.
#include <gtest/gtest.h>

#include <set>

#include "protocols/routes.h"

using sightline::protocols::RouteClusters;

TEST(Routes, AStablePathStaysLiteral) {
  RouteClusters r;
  for (int i = 0; i < 100; i++) {
    EXPECT_EQ(r.route("nginx", "/api/v1/users/{id}/orders"), "/api/v1/users/{id}/orders");
    EXPECT_EQ(r.route("nginx", "/api/v1/users/{id}/cart"), "/api/v1/users/{id}/cart");
    EXPECT_EQ(r.route("nginx", "/"), "/");
  }
  EXPECT_EQ(r.collapsed(), 0u);
}

TEST(Routes, APositionThatVariesBecomesAWildcard) {
  RouteClusters r;
  std::set<std::string> routes;
  for (int i = 0; i < 1000; i++) routes.insert(r.route("app", "/u/user" + std::to_string(i) + "/x" + std::to_string(i)));
  // Before each position was seen to vary, its first kMaxValues values were routes of their own:
  // /u/user0/x0 .. (16), then /u/{x}/x16 .. (16), then /u/{x}/{x} for good.
  EXPECT_TRUE(routes.count("/u/{x}/{x}"));
  EXPECT_EQ(routes.size(), 2 * RouteClusters::kMaxValues + 1);
  EXPECT_EQ(r.route("app", "/u/user3/x3"), "/u/{x}/{x}") << "a name learnt before is clustered now too";
  EXPECT_EQ(r.route("app", "/static/app.js"), "/static/app.js") << "another prefix is its own";
  EXPECT_EQ(r.collapsed(), 2u);
  // The collapsed literals are forgotten: the trie stays small.
  EXPECT_LT(r.nodes(), 30u);
}

TEST(Routes, ScopesAreApart) {
  RouteClusters r;
  for (int i = 0; i < 100; i++) r.route("a", "/item/" + std::to_string(i) + "x");
  EXPECT_EQ(r.route("a", "/item/zz"), "/item/{x}");
  EXPECT_EQ(r.route("b", "/item/zz"), "/item/zz");
}

TEST(Routes, TheTrieIsBounded) {
  RouteClusters r(/*max_nodes=*/50, /*max_values=*/1000);
  for (int i = 0; i < 500; i++) r.route("s" + std::to_string(i % 3), "/a" + std::to_string(i) + "/b/c");
  EXPECT_LE(r.nodes(), 50u);
  EXPECT_GT(r.bounded(), 0u);
  EXPECT_EQ(r.route("s0", "/zzz/b"), "/{x}") << "no room: the rest of the path is one wildcard";
}

TEST(Routes, GivenTemplatesComeFirst) {
  RouteClusters r;
  r.set_templates({"/api/users/{id}/orders", "/files/{name}"});
  EXPECT_EQ(r.route("s", "/api/users/{id}/orders"), "/api/users/{id}/orders");
  EXPECT_EQ(r.route("s", "/files/report.pdf"), "/files/{name}");
  EXPECT_EQ(r.route("s", "/files/a/b"), "/files/a/b") << "more segments than the template";
  EXPECT_EQ(r.route("s", "/api/users/{id}"), "/api/users/{id}") << "fewer segments";
  for (int i = 0; i < 100; i++) EXPECT_EQ(r.route("s", "/files/f" + std::to_string(i)), "/files/{name}");
  EXPECT_EQ(r.collapsed(), 0u) << "templated paths teach the trie nothing";
}

TEST(Routes, OddPathsAreWhole) {
  RouteClusters r;
  EXPECT_EQ(r.route("s", ""), "");
  EXPECT_EQ(r.route("s", "//x//"), "//x//");
  EXPECT_EQ(r.route("s", "no-slash"), "no-slash");
}
