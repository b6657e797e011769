// BPF tests need root: without it they fail with a sentence, never skip.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>

#include "bpf/libbpf_util.h"

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  bool listing = false;
  for (int i = 1; i < argc; i++) listing |= std::string(argv[i]).starts_with("--gtest_list_tests");
  if (!listing && geteuid() != 0) {
    fprintf(stderr, "bpf_tests load real BPF programs: run them as root\n");
    return 1;
  }
  // SL_BPF_VERBOSE=1: libbpf's messages, the verifier's log of a refused program among them
  const char* verbose = getenv("SL_BPF_VERBOSE");
  sightline::bpf::install_libbpf_logger(verbose && *verbose && *verbose != '0');
  return RUN_ALL_TESTS();
}
