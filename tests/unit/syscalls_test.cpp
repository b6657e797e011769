// Syscall names come from the kernel's table.
#include <gtest/gtest.h>
#include <sys/syscall.h>

#include "core/syscalls.h"

using namespace sightline::core;

TEST(SyscallNames, FromTheKernelTable) {
  EXPECT_EQ(syscall_name(SYS_openat), "openat");
  EXPECT_EQ(syscall_name(SYS_getppid), "getppid");
  EXPECT_EQ(syscall_name(SYS_exit_group), "exit_group");
  EXPECT_EQ(syscall_number("close"), SYS_close);
  EXPECT_EQ(syscall_name(100000), "syscall_100000");
  EXPECT_EQ(syscall_number("no_such_call"), -1);
}
