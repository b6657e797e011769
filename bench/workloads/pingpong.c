// pingpong N: two processes pass a byte back and forth over pipes N times (two context
// switches and two wakeups per round trip when they share a CPU); prints ns per round trip.
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 200000;
  int ab[2], ba[2];
  if (pipe(ab) || pipe(ba)) return 1;
  char c = 'x';
  pid_t p = fork();
  if (p == 0) {
    for (long i = 0; i < n; i++) {
      if (read(ab[0], &c, 1) != 1 || write(ba[1], &c, 1) != 1) _exit(1);
    }
    _exit(0);
  }
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) {
    if (write(ab[1], &c, 1) != 1 || read(ba[0], &c, 1) != 1) return 1;
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  waitpid(p, NULL, 0);
  double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
  printf("ops=%ld ns_per_op=%.1f\n", n, ns / n);
  return 0;
}
