// /proc/net/{tcp,udp}[6] rows as the packets source reads them to name the ends of flows.
#include <gtest/gtest.h>

#include "sources/packets/local_sockets.h"

using sightline::sources::parse_proc_net;

TEST(ProcNet, Ipv4RowsGiveBothEndsStateAndInode) {
  const char* text =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 00000000:07E8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1170 1 0 100 0 0 10 0\n"
      "   1: 0100007F:A6AA 0200007F:AB19 01 00000000:00000000 03:00001205 00000000  1000        0 4242 3 0\n"
      "   2: garbage\n"
      "   3: 0100007F:ZZZZ 0100007F:AB19 01 00000000:00000000 03:00001205 00000000     0        0 1 3 0\n";
  auto rows = parse_proc_net(text, false);
  ASSERT_EQ(rows.size(), 2u) << "malformed rows are skipped";
  EXPECT_EQ(rows[0].lport, 2024);
  EXPECT_EQ(rows[0].state, 0x0a);
  EXPECT_EQ(rows[0].inode, 1170u);
  EXPECT_EQ(rows[1].lport, 0xA6AA);
  EXPECT_EQ(rows[1].rport, 0xAB19);
  // 0100007F is 127.0.0.1 as the kernel's little-endian word: back in network order.
  EXPECT_EQ(rows[1].laddr[0], 127);
  EXPECT_EQ(rows[1].laddr[3], 1);
  EXPECT_EQ(rows[1].raddr[3], 2);
  EXPECT_EQ(rows[1].inode, 4242u);
}

TEST(ProcNet, Ipv6RowsAreFourWords) {
  const char* text =
      "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
      "   0: 00000000000000000000000001000000:0016 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 777 1 0\n"
      "   1: 0000000000000000FFFF00000100007F:1F90 0000000000000000FFFF00000100007F:C350 01 00000000:00000000 00:00000000 00000000     0        0 778 1 0\n";
  auto rows = parse_proc_net(text, true);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].lport, 22);
  EXPECT_EQ(rows[0].laddr[15], 1) << "::1";
  EXPECT_EQ(rows[0].laddr[0], 0);
  // ::ffff:127.0.0.1
  EXPECT_EQ(rows[1].laddr[10], 0xff);
  EXPECT_EQ(rows[1].laddr[11], 0xff);
  EXPECT_EQ(rows[1].laddr[12], 127);
  EXPECT_EQ(rows[1].laddr[15], 1);
  EXPECT_EQ(rows[1].lport, 8080);
  EXPECT_EQ(rows[1].rport, 50000);
  EXPECT_TRUE(parse_proc_net("", true).empty());
  EXPECT_TRUE(parse_proc_net("header only", false).empty());
}
