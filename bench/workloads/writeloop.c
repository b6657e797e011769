// writeloop N: N x pwrite of 4 KiB at offset 0 of a file in /var/tmp (the page cache: the
// syscall's own cost, which a per-call hook adds to), one process. Prints ns per op.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 300000;
  char path[64];
  snprintf(path, sizeof path, "/var/tmp/writeloop.%d", (int)getpid());
  int fd = open(path, O_CREAT | O_WRONLY | O_TRUNC, 0600);
  if (fd < 0) {
    perror("writeloop: open");
    return 1;
  }
  unlink(path);
  static char buf[4096];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; i++) {
    if (pwrite(fd, buf, sizeof buf, 0) != sizeof buf) {
      perror("writeloop");
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
  printf("ops=%ld ns_per_op=%.1f\n", n, ns / n);
  return 0;
}
