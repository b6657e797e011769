// Profile outputs: folded stacks, pprof bytes, folded parsing and its errors, the SVG.
#include <gtest/gtest.h>

#include "profile/profile.h"

using namespace sightline;
using profile::Profile;
using symbols::Frame;

namespace {
Profile sample_profile() {
  Profile p;
  p.period_ns = 10101010;
  p.entries.push_back({7, "app", {{"main", "/bin/app", 0, false}, {"burn_cpu", "/bin/app", 4, false}}, 90});
  p.entries.push_back({7, "app", {{"main", "/bin/app", 0, false}, {"do_syscall_64", "[kernel]", 3, true}}, 10});
  p.entries.push_back({8, "a;b c", {{"[unknown]", "/usr/lib/libx.so.1", 0, false}}, 1});
  return p;
}
}  // namespace

TEST(Profile, FoldedIsRootFirstWithKernelMarksAndSafeNames) {
  EXPECT_EQ(profile::to_folded(sample_profile()),
            "a_b_c;[libx.so.1] 1\n"
            "app;main;burn_cpu 90\n"
            "app;main;do_syscall_64_[k] 10\n");
}

TEST(Profile, PprofCarriesTheStringsTypesAndSamples) {
  std::string pb = profile::to_pprof(sample_profile());
  for (const char* s : {"samples", "count", "cpu", "nanoseconds", "burn_cpu", "do_syscall_64 [k]", "/bin/app", "pid", "comm"})
    EXPECT_NE(pb.find(s), std::string::npos) << s;
  EXPECT_EQ(static_cast<unsigned char>(pb[0]), (1 << 3) | 2) << "field 1 (sample_type), length-delimited";
}

TEST(Profile, ParseFoldedAndItsErrors) {
  std::vector<profile::FoldedStack> s;
  ASSERT_TRUE(profile::parse_folded("a;b;c 3\n# comment\n\nx 1\r\n", &s).ok());
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].frames, (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(s[0].value, 3u);
  EXPECT_EQ(s[1].value, 1u);
  auto st = profile::parse_folded("a;b 1\nnocount\n", &s);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("line 2"), std::string::npos) << st.message();
  EXPECT_FALSE(profile::parse_folded("a -5\n", &s).ok());
  EXPECT_FALSE(profile::parse_folded("a 99999999999999999999999\n", &s).ok()) << "overflow";
}

TEST(Profile, FlameGraphEscapesAndScales) {
  std::vector<profile::FoldedStack> s = {{{"main", "a<b>&\"c\""}, 3}, {{"main", "d"}, 1}};
  std::string svg = profile::flamegraph_svg(s, "t<1>", "samples");
  EXPECT_NE(svg.find("a&lt;b&gt;&amp;&quot;c&quot; (3 samples, 75.00%)"), std::string::npos);
  EXPECT_NE(svg.find("t&lt;1&gt;"), std::string::npos);
  EXPECT_EQ(svg.find("a<b>"), std::string::npos);
  EXPECT_NE(svg.find("main (4 samples, 100.00%)"), std::string::npos);
}

TEST(Profile, CompleteStacksReachWhereThreadsStart) {
  EXPECT_TRUE(profile::complete_stack({{"main", "/a", 0, false}, {"f", "/a", 0, false}}));
  EXPECT_TRUE(profile::complete_stack({{"clone3", "/libc", 0, false}, {"start_thread", "/libc", 0, false}}));
  EXPECT_FALSE(profile::complete_stack({{"f", "/a", 0, false}}));
  EXPECT_FALSE(profile::complete_stack({{"main", "[kernel]", 0, true}})) << "kernel frames do not count";
}
