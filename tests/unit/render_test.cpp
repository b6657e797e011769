// Renderings used by JSON and `trace` tables.
#include <fcntl.h>
#include <gtest/gtest.h>

#include "core/render.h"

using namespace sightline::core;

namespace {
uint64_t kernel_largefile() {
#if defined(__aarch64__)
  return 0400000;
#else
  return 0100000;
#endif
}
}  // namespace

TEST(JsonString, EscapesQuotesBackslashesAndControlBytes) {
  std::string out;
  append_json_string(out, std::string_view("a\"b\\c\nd\te\x01\x7f", 11));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\nd\\te\\u0001\\u007f\"");
}

TEST(JsonString, PassesUtf8Through) {
  std::string out;
  append_json_string(out, "ünïcödé ✓");
  EXPECT_EQ(out, "\"ünïcödé ✓\"");
}

TEST(OpenFlags, NamesAccessModeAndBits) {
  std::string out;
  append_open_flags(out, O_RDONLY | O_CLOEXEC);
  EXPECT_EQ(out, "O_RDONLY|O_CLOEXEC");
  out.clear();
  append_open_flags(out, O_RDWR | O_CREAT | O_EXCL | O_TRUNC);
  EXPECT_EQ(out, "O_RDWR|O_CREAT|O_EXCL|O_TRUNC");
  out.clear();
  append_open_flags(out, O_WRONLY | O_SYNC);  // O_SYNC includes O_DSYNC
  EXPECT_EQ(out, "O_WRONLY|O_DSYNC|O_SYNC");
  out.clear();
  append_open_flags(out, O_RDONLY | (1ULL << 40));
  EXPECT_EQ(out, "O_RDONLY|0x10000000000");
  out.clear();
  append_open_flags(out, O_RDONLY | kernel_largefile());
  EXPECT_EQ(out, "O_RDONLY|O_LARGEFILE");
}

TEST(Errno, KnownAndUnknown) {
  EXPECT_EQ(errno_name(ENOENT), "ENOENT");
  EXPECT_EQ(errno_name(EACCES), "EACCES");
  EXPECT_EQ(errno_name(4095), "E4095");
}

TEST(ShellQuote, QuotesOnlyWhatNeedsIt) {
  std::string out;
  for (const char* a : {"plain", "with space", "", "it's", "tab\there"}) {
    append_shell_quoted(out, a);
    out += '|';
  }
  EXPECT_EQ(out, "plain|'with space'|''|'it'\\''s'|'tab\\x09here'|");
}

TEST(Duration, PicksAUnit) {
  std::string out;
  for (uint64_t ns : {999ULL, 1500ULL, 2500000ULL, 3210000000ULL, 192000000000ULL}) {
    append_duration(out, ns);
    out += ' ';
  }
  EXPECT_EQ(out, "999ns 1.5us 2.5ms 3.210s 3m12s ");
}

TEST(Rfc3339, NanosecondsAndUtc) {
  std::string out;
  append_rfc3339(out, 0);
  EXPECT_EQ(out, "1970-01-01T00:00:00.000000000Z");
  out.clear();
  append_rfc3339(out, 86400ULL * 1000000000ULL + 5);
  EXPECT_EQ(out, "1970-01-02T00:00:00.000000005Z");
}
