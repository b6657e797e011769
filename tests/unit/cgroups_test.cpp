// Container ids from cgroup paths, and finding the cgroup2 mount.
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "core/cgroups.h"

using namespace sightline::core;

namespace {
const std::string kId = "3f4e5d6c7b8a99887766554433221100ffeeddccbbaa00112233445566778899";
}

TEST(ContainerId, RuntimesAndLayouts) {
  EXPECT_EQ(container_id_from_path("/system.slice/docker-" + kId + ".scope"), "3f4e5d6c7b8a");
  EXPECT_EQ(container_id_from_path("/docker/" + kId), "3f4e5d6c7b8a");
  EXPECT_EQ(container_id_from_path("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod1234.slice/cri-containerd-" + kId + ".scope"),
            "3f4e5d6c7b8a");
  EXPECT_EQ(container_id_from_path("/kubepods/besteffort/pod1234/" + kId), "3f4e5d6c7b8a");
  EXPECT_EQ(container_id_from_path("/machine.slice/libpod-" + kId + ".scope/container"), "3f4e5d6c7b8a");
  EXPECT_EQ(container_id_from_path("/system.slice/crio-" + kId + ".scope"), "3f4e5d6c7b8a");
}

TEST(ContainerId, HostPathsHaveNone) {
  EXPECT_EQ(container_id_from_path("/"), "");
  EXPECT_EQ(container_id_from_path(""), "");
  EXPECT_EQ(container_id_from_path("/user.slice/user-1000.slice/session-2.scope"), "");
  EXPECT_EQ(container_id_from_path("/system.slice/docker-" + kId.substr(0, 63) + "g.scope"), "");
}

TEST(Cgroup2Mount, HybridAndUnified) {
  char tmpl[] = "/tmp/sl-mounts-XXXXXX";
  int fd = mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  close(fd);
  {
    std::ofstream o(tmpl);
    o << "proc /proc proc rw 0 0\ncgroup /sys/fs/cgroup/cpu cgroup rw 0 0\n"
         "cgroup2 /sys/fs/cgroup/unified cgroup2 rw 0 0\n";
  }
  EXPECT_EQ(cgroup2_mount(tmpl), "/sys/fs/cgroup/unified");
  {
    std::ofstream o(tmpl);
    o << "proc /proc proc rw 0 0\n";
  }
  EXPECT_EQ(cgroup2_mount(tmpl), "");
  unlink(tmpl);
}
