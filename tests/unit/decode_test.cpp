// Decoders of kernel records: well-formed records decode exactly, malformed ones are refused.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "sightline/file.h"
#include "sightline/process.h"
#include "sources/decode.h"

using namespace sightline;

namespace {
template <class T>
T zeroed() {
  T t;
  memset(&t, 0, sizeof t);
  return t;
}
}  // namespace

TEST(Decode, OpenRecord) {
  auto r = zeroed<sl_open_event>();
  r.hdr.kind = SL_EV_OPEN;
  r.hdr.pid = 42;
  r.hdr.tid = 43;
  memcpy(r.hdr.comm, "cat\0", 4);
  r.ret = -13;
  r.flags = 01;
  r.syscall = SL_SYS_OPENAT;
  memcpy(r.path, "/etc/shadow", 12);
  core::Event e;
  ASSERT_TRUE(sources::decode_file_record(&r, sizeof r, e));
  EXPECT_EQ(e.kind, core::EventKind::kOpen);
  EXPECT_EQ(e.pid, 42u);
  EXPECT_EQ(e.comm, "cat");
  EXPECT_EQ(e.path, "/etc/shadow");
  EXPECT_EQ(e.ret, -13);
  EXPECT_FALSE(sources::decode_file_record(&r, sizeof r - 1, e));
  r.hdr.kind = SL_EV_EXEC;
  EXPECT_FALSE(sources::decode_file_record(&r, sizeof r, e));
}

TEST(Decode, UnterminatedStringsStayInsideTheRecord) {
  auto r = zeroed<sl_open_event>();
  r.hdr.kind = SL_EV_OPEN;
  memset(r.hdr.comm, 'c', sizeof r.hdr.comm);
  memset(r.path, 'p', sizeof r.path);
  core::Event e;
  ASSERT_TRUE(sources::decode_file_record(&r, sizeof r, e));
  EXPECT_EQ(e.comm.size(), 16u);
  EXPECT_EQ(e.path.size(), size_t(SL_PATH_MAX));
}

TEST(Decode, ExecArgsAreClampedToTheRecord) {
  std::vector<char> buf(sizeof(sl_exec_event), 0);
  auto* x = reinterpret_cast<sl_exec_event*>(buf.data());
  x->hdr.kind = SL_EV_EXEC;
  memcpy(x->filename, "/bin/ls", 8);
  memcpy(x->args, "ls\0-l\0", 6);
  x->args_size = 6;
  size_t size = sizeof(sl_exec_event) - SL_ARGS_SIZE + 6;
  core::Event e;
  ASSERT_TRUE(sources::decode_process_record(buf.data(), size, e));
  EXPECT_EQ(e.args, std::string_view("ls\0-l\0", 6));
  EXPECT_EQ(e.args_count, 2u);
  // A record that claims more argv than it carries is cut to what it carries.
  x->args_size = 2000;
  ASSERT_TRUE(sources::decode_process_record(buf.data(), size - 3, e));
  EXPECT_EQ(e.args, std::string_view("ls\0", 3));
  EXPECT_EQ(e.args_count, 1u);
  // Cut inside an argument: it still counts.
  ASSERT_TRUE(sources::decode_process_record(buf.data(), size - 1, e));
  EXPECT_EQ(e.args_count, 2u);
  EXPECT_FALSE(sources::decode_process_record(buf.data(), sizeof(sl_exec_event) - SL_ARGS_SIZE - 1, e));
}

TEST(Decode, ForkExitAndUnknownKinds) {
  auto f = zeroed<sl_fork_event>();
  f.hdr.kind = SL_EV_FORK;
  f.child_pid = 77;
  core::Event e;
  ASSERT_TRUE(sources::decode_process_record(&f, sizeof f, e));
  EXPECT_EQ(e.child_pid, 77u);
  EXPECT_FALSE(sources::decode_process_record(&f, sizeof f - 1, e));
  auto x = zeroed<sl_exit_event>();
  x.hdr.kind = SL_EV_EXIT;
  x.exit_code = 3;
  x.signal = 9;
  ASSERT_TRUE(sources::decode_process_record(&x, sizeof x, e));
  EXPECT_EQ(e.exit_code, 3);
  EXPECT_EQ(e.signal, 9u);
  x.hdr.kind = 99;
  EXPECT_FALSE(sources::decode_process_record(&x, sizeof x, e));
  EXPECT_FALSE(sources::decode_process_record(&x, 3, e));
}
