// Go TLS probe placement (sources/l7/go_tls.h): the RET instructions of machine code, Go's build
// info version, and refusals for what is not a Go binary. The real Go binaries (built, stripped)
// are tests/e2e/go_tls.sh's.
#include "sources/l7/go_tls.h"

#include <gtest/gtest.h>

#include <string>

using sightline::sources::go_buildinfo_version;
using sightline::sources::go_tls_probes;
using sightline::sources::GoTlsProbes;
using sightline::sources::is_go_binary;
using sightline::sources::x86_returns;

namespace {

std::string bytes(std::initializer_list<int> b) {
  std::string s;
  for (int c : b) s.push_back(static_cast<char>(c));
  return s;
}

}  // namespace

TEST(GoTls, ReturnsAreFoundAtInstructionBoundariesOnly) {
  // sub rsp,0x18 | ret | nop | ret 8 | mov eax,0xc3 (a C3 byte inside it) | repz ret | int3
  std::string code = bytes({0x48, 0x83, 0xec, 0x18, 0xc3, 0x90, 0xc2, 0x08, 0x00, 0xb8, 0xc3, 0x00, 0x00, 0x00,
                            0xf3, 0xc3, 0xcc});
  EXPECT_EQ(x86_returns(code), (std::vector<uint64_t>{4, 6, 14}));
}

TEST(GoTls, AnUndecodableByteEndsTheSweepWithWhatItFound) {
  // ret | 0x06 (push es: no instruction in 64-bit mode) | ret: the second is past the garbage
  std::string code = bytes({0xc3, 0x06, 0xc3});
  EXPECT_EQ(x86_returns(code), (std::vector<uint64_t>{0}));
  EXPECT_TRUE(x86_returns("").empty());
}

TEST(GoTls, BuildInfoVersionInlineForm) {
  std::string head = std::string("\xff Go buildinf:", 14) + bytes({8, 2}) + std::string(16, '\0');
  EXPECT_EQ(go_buildinfo_version(head + "\x08go1.19.8" + "\x00"), "go1.19.8");
  // the pre-1.18 form (flags without 2: pointers to the strings) and cut or foreign bytes
  std::string old = std::string("\xff Go buildinf:", 14) + bytes({8, 0}) + std::string(16, '\0');
  EXPECT_EQ(go_buildinfo_version(old + "\x08go1.16.1"), "");
  EXPECT_EQ(go_buildinfo_version(head + "\x20go1.19"), "");             // longer than what is there
  EXPECT_EQ(go_buildinfo_version(head + "\x05hello"), "");              // not a Go version
  EXPECT_EQ(go_buildinfo_version(head + "\x80\x80\x80\x80\x80"), "");   // a varint that never ends
  EXPECT_EQ(go_buildinfo_version("\xff Go buildinf"), "");
}

TEST(GoTls, NonGoBinariesAreRefusedWithWhy) {
  EXPECT_FALSE(is_go_binary("/bin/true"));
  EXPECT_FALSE(is_go_binary("/nonexistent/binary"));
  GoTlsProbes p;
  EXPECT_EQ(go_tls_probes("/bin/true", &p), "not a Go binary");
  EXPECT_EQ(go_tls_probes("/nonexistent/binary", &p), "not a Go binary");
}
