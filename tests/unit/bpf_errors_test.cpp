// Names of the sites where BPF helper calls failed (bpf/common.bpf.h sl_errors).
#include <gtest/gtest.h>

#include <cerrno>

#include "bpf/errors.h"
#include "sightline/common.h"

using namespace sightline::bpf;

TEST(BpfErrors, SitesAreNamedByFileLineHelperAndErrno) {
  EXPECT_EQ(error_where("l7", SL_FILE_MAIN, 190), "l7.bpf.c:190");
  EXPECT_EQ(error_where("security", SL_FILE_SOCK, 31), "sock.bpf.h:31");
  EXPECT_EQ(error_where("net", SL_FILE_COMMON, 7), "common.bpf.h:7");
  EXPECT_EQ(error_where("net", 99, 7), "file99:7");
  EXPECT_EQ(helper_name(SL_H_PROBE_READ_USER_STR), "probe_read_user_str");
  EXPECT_EQ(helper_name(SL_H_RINGBUF_RESERVE), "ringbuf_reserve");
  EXPECT_EQ(helper_name(0), "unknown");
  EXPECT_EQ(errno_name(-EFAULT), "EFAULT");
  EXPECT_EQ(errno_name(E2BIG), "E2BIG");
  EXPECT_EQ(errno_name(-4000), "E4000");
  EXPECT_TRUE(read_helper_errors(nullptr, "x").empty());
}
