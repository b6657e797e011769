// callloop N: N calls of an exported, never-inlined function (a uprobe target); ns per call.
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

volatile long sl_sink;
__attribute__((noinline)) long sl_bench_target(long x) {
  sl_sink += x;
  return x + 1;
}

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) sl_sink += sl_bench_target(i);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
  printf("ops=%ld ns_per_op=%.1f\n", n, ns / n);
  return 0;
}
