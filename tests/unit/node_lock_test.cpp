// One agent per node resource (agent/node_lock.h), and the one listener rule (check_listen).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/config.h"
#include "agent/node_lock.h"

using namespace sightline::agent;

TEST(NodeLock, ASecondHolderIsRefusedWithTheFirstsPid) {
  auto dir = std::filesystem::temp_directory_path() / ("sl-lock-" + std::to_string(getpid()));
  std::string path = (dir / "sub" / "api.sock.lock").string();
  {
    NodeLock first;
    ASSERT_TRUE(first.acquire(path, "the API socket x").ok());
    std::ifstream in(path);
    std::string pid;
    in >> pid;
    EXPECT_EQ(pid, std::to_string(getpid()));
    NodeLock second;
    auto st = second.acquire(path, "the API socket x");
    ASSERT_FALSE(st.ok());
    EXPECT_EQ(st.message().find("another sightline agent (pid " + std::to_string(getpid()) + ") holds the API socket x"), 0u)
        << st.message();
  }
  NodeLock again;  // the first let go
  EXPECT_TRUE(again.acquire(path, "the API socket x").ok());
  std::filesystem::remove_all(dir);
}

TEST(Listen, BeyondLoopbackNeedsATokenWhereverItIsSet) {
  std::string host;
  int port = 0;
  EXPECT_TRUE(check_listen("127.0.0.1:9190", "", &host, &port).ok());
  EXPECT_EQ(port, 9190);
  EXPECT_TRUE(check_listen("[::1]:9190", "", &host, &port).ok());
  auto st = check_listen("0.0.0.0:9190", "", &host, &port);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.message().find("0.0.0.0:9190 is not a loopback address: set api_token"), std::string::npos) << st.message();
  EXPECT_TRUE(check_listen("0.0.0.0:9190", "secret", &host, &port).ok());
  EXPECT_FALSE(check_listen("nohost", "", &host, &port).ok());
}
