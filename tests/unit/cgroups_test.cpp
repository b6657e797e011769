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

TEST(ContainerInfo, RuntimePodAndQosFromEachDriversShape) {
  // containerd, systemd driver, burstable pod.
  auto i = container_info_from_path("/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod0f1e2d3c_4b5a_6978_8796_a5b4c3d2e1f0.slice/cri-containerd-" + kId + ".scope");
  EXPECT_EQ(i.id, "3f4e5d6c7b8a");
  EXPECT_EQ(i.runtime, "containerd");
  EXPECT_EQ(i.pod_uid, "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0");
  EXPECT_EQ(i.qos, "burstable");
  // CRI-O, guaranteed: no QoS level in the path.
  i = container_info_from_path("/kubepods.slice/kubepods-pod11112222_3333_4444_5555_666677778888.slice/crio-" + kId + ".scope");
  EXPECT_EQ(i.runtime, "crio");
  EXPECT_EQ(i.pod_uid, "11112222-3333-4444-5555-666677778888");
  EXPECT_EQ(i.qos, "guaranteed");
  // cgroupfs driver, besteffort: dashes kept, the runtime unnamed.
  i = container_info_from_path("/kubepods/besteffort/pod11112222-3333-4444-5555-666677778888/" + kId);
  EXPECT_EQ(i.pod_uid, "11112222-3333-4444-5555-666677778888");
  EXPECT_EQ(i.qos, "besteffort");
  EXPECT_EQ(i.runtime, "");
  // Docker (both drivers) and podman: no pod.
  i = container_info_from_path("/system.slice/docker-" + kId + ".scope");
  EXPECT_EQ(i.runtime, "docker");
  EXPECT_EQ(i.pod_uid, "");
  EXPECT_EQ(i.qos, "");
  EXPECT_EQ(container_info_from_path("/docker/" + kId).runtime, "docker");
  EXPECT_EQ(container_info_from_path("/machine.slice/libpod-" + kId + ".scope/container").runtime, "podman");
  // The host: nothing.
  i = container_info_from_path("/system.slice/kubelet.service");
  EXPECT_EQ(i.id + i.runtime + i.pod_uid + i.qos, "");
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
