// sigloop N: N x kill(self, SIGUSR1) to a no-op handler, as fast as possible; prints ns per op.
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t handled;
static void on_usr1(int sig) { handled += sig > 0; }

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 1000000;
  signal(SIGUSR1, on_usr1);
  pid_t self = getpid();
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++) kill(self, SIGUSR1);
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
  printf("ops=%ld ns_per_op=%.1f handled=%ld\n", n, ns / n, (long)handled);
  return 0;
}
