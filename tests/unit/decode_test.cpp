// Decoders of kernel records: well-formed records decode exactly, malformed ones are refused.
#include <gtest/gtest.h>

#include <cstring>
#include <vector>

#include "sightline/file.h"
#include "sightline/process.h"
#include "sightline/security.h"
#include "sightline/enforce.h"
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

TEST(Decode, SecurityRecordDescribesTheSocket) {
  auto r = zeroed<sl_sec_event>();
  r.hdr.kind = SL_EV_SYSCALL;
  r.syscall = 1;
  r.fd = 0;
  r.ret = 0;
  r.args[0] = 5;
  r.fd_mode = 0140000;
  r.sock_family = 2;
  r.sock_protocol = 6;
  r.lport = 40000;
  r.rport = 4444;
  const uint8_t l[4] = {127, 0, 0, 1}, rem[4] = {10, 1, 2, 3};
  memcpy(r.laddr, l, 4);
  memcpy(r.raddr, rem, 4);
  std::vector<std::string> names = {"connect", "dup2", "clone3"};
  core::Event e;
  ASSERT_TRUE(sources::decode_security_record(&r, sizeof r, names, e));
  EXPECT_EQ(e.sys_name, "dup2");
  EXPECT_EQ(e.fd_num, 0);
  EXPECT_EQ(e.fd_type, "ipv4");
  EXPECT_EQ(e.l4proto, "tcp");
  EXPECT_EQ(e.laddr, "127.0.0.1");
  EXPECT_EQ(e.raddr, "10.1.2.3");
  EXPECT_EQ(e.lport, 40000);
  EXPECT_EQ(e.rport, 4444);
  // A unix socket has no addresses; a pipe is a pipe; clone3 flags name the namespaces.
  r.sock_family = 1;
  core::Event u;
  ASSERT_TRUE(sources::decode_security_record(&r, sizeof r, names, u));
  EXPECT_EQ(u.fd_type, "unix");
  EXPECT_EQ(u.l4proto, "");
  EXPECT_EQ(u.raddr, "");
  r.fd_mode = 0010000;
  r.sock_family = 0;
  r.syscall = 2;
  r.args[0] = 0x40000000 | 0x04000000;
  core::Event p;
  ASSERT_TRUE(sources::decode_security_record(&r, sizeof r, names, p));
  EXPECT_EQ(p.fd_type, "pipe");
  EXPECT_STREQ(p.flags_text, "CLONE_NEWUTS|CLONE_NEWNET");
  r.syscall = 3;  // no such cookie
  EXPECT_FALSE(sources::decode_security_record(&r, sizeof r, names, p));
}

TEST(Decode, EnforceRecordIsItsHooksEventWithTheAction) {
  sl_enf_event r = {};
  r.hdr.kind = SL_EV_ACTION;
  r.hdr.pid = 7;
  r.hook = SL_ENF_HOOK_OPEN;
  r.outcome = SL_ENF_KILLED;
  r.rule = 3;
  r.generation = 2;
  r.fd = 4;
  strcpy(r.path, "/etc/shadow");
  strcpy(r.exe, "/tmp/cat");
  core::Event e;
  ASSERT_TRUE(sources::decode_enforce_record(&r, sizeof r, e));
  EXPECT_EQ(e.kind, core::EventKind::kOpen);
  EXPECT_EQ(e.path, "/etc/shadow");
  EXPECT_EQ(e.exe, "/tmp/cat");
  EXPECT_EQ(e.ret, 4);
  EXPECT_EQ(e.action, 1);
  EXPECT_EQ(e.action_rule, 3);
  EXPECT_EQ(e.action_generation, 2u);
  r.hook = SL_ENF_HOOK_EXEC;
  core::Event x;
  ASSERT_TRUE(sources::decode_enforce_record(&r, sizeof r, x));
  EXPECT_EQ(x.kind, core::EventKind::kExec);
  // Out of range: refused, never indexed.
  for (void (*bad)(sl_enf_event&) : {+[](sl_enf_event& b) { b.hook = SL_ENF_HOOKS; }, +[](sl_enf_event& b) { b.outcome = 0; },
                   +[](sl_enf_event& b) { b.rule = SL_ENF_MAX_RULES; }}) {
    sl_enf_event b = r;
    bad(b);
    core::Event y;
    EXPECT_FALSE(sources::decode_enforce_record(&b, sizeof b, y));
  }
  EXPECT_FALSE(sources::decode_enforce_record(&r, sizeof r - 1, x));
}
