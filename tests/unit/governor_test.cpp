// The overhead governor's steps: over budget for kUpAfter seconds sheds a level, under half of
// it for kDownAfter seconds restores one, in between it holds; never past the last level.
#include "agent/governor.h"

#include <gtest/gtest.h>

using sightline::agent::Governor;

TEST(Governor, ShedsUnderAFloodAndRestoresAfterIt) {
  Governor g(2.0);
  for (int i = 0; i < Governor::kUpAfter - 1; i++) EXPECT_FALSE(g.observe(10));
  EXPECT_TRUE(g.observe(10));
  EXPECT_EQ(g.level(), 1);
  for (int i = 0; i < 100; i++) g.observe(10);
  EXPECT_EQ(g.level(), Governor::kMaxLevel) << "no level past the last";
  EXPECT_EQ(g.shed_steps(), static_cast<uint64_t>(Governor::kMaxLevel));
  for (int i = 0; i < 100; i++) g.observe(1.5);
  EXPECT_EQ(g.level(), Governor::kMaxLevel) << "between half the budget and the budget: hold";
  for (int i = 0; i < Governor::kDownAfter - 1; i++) EXPECT_FALSE(g.observe(0.5));
  EXPECT_TRUE(g.observe(0.5));
  EXPECT_EQ(g.level(), Governor::kMaxLevel - 1);
  for (int i = 0; i < 100; i++) g.observe(0.5);
  EXPECT_EQ(g.level(), 0);
  EXPECT_EQ(g.restore_steps(), static_cast<uint64_t>(Governor::kMaxLevel));
}

TEST(Governor, ASpikeShorterThanTheWindowChangesNothing) {
  Governor g(2.0);
  for (int i = 0; i < 50; i++) g.observe(i % Governor::kUpAfter == 0 ? 0.1 : 50);
  EXPECT_EQ(g.level(), 0);
}

TEST(Governor, OffWithoutABudget) {
  Governor g(0);
  for (int i = 0; i < 50; i++) EXPECT_FALSE(g.observe(90));
  EXPECT_EQ(g.level(), 0);
  EXPECT_NE(g.reason().find("off"), std::string::npos);
}

TEST(Governor, CostIsAShareOfTheNode) {
  EXPECT_DOUBLE_EQ(sightline::agent::cost_percent(0.04, 1.0, 2), 2.0);
  EXPECT_DOUBLE_EQ(sightline::agent::cost_percent(1, 0, 2), 0);
}
