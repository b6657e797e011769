// readloop N: N x pread of 16 KiB at offset 0 of a file in /var/tmp, cached after the first read
// (page-cache hits: each marks its pages accessed, what cachestat probes), one process. Prints ns
// per op.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 300000;
  char path[64];
  snprintf(path, sizeof path, "/var/tmp/readloop.%d", (int)getpid());
  int fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0600);
  if (fd < 0) {
    perror("readloop: open");
    return 1;
  }
  unlink(path);
  static char buf[16384];
  if (pwrite(fd, buf, sizeof buf, 0) != sizeof buf) {
    perror("readloop: pwrite");
    return 1;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; i++) {
    if (pread(fd, buf, sizeof buf, 0) != sizeof buf) {
      perror("readloop");
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
  printf("ops=%ld ns_per_op=%.1f\n", n, ns / n);
  return 0;
}
