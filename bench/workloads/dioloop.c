// dioloop N FILE: N x 4 KiB O_DIRECT reads cycling over FILE (created, 16 MiB, if missing):
// one block I/O per op; prints ns per op.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 20000;
  const char* path = argc > 2 ? argv[2] : "/var/tmp/dioloop.dat";
  const long blocks = 4096;  // 16 MiB
  if (access(path, F_OK) != 0) {
    int w = open(path, O_CREAT | O_WRONLY, 0600);
    char buf[4096];
    memset(buf, 'd', sizeof buf);
    for (long i = 0; i < blocks; i++)
      if (write(w, buf, sizeof buf) != (ssize_t)sizeof buf) return 1;
    fsync(w);
    close(w);
  }
  int fd = open(path, O_RDONLY | O_DIRECT);
  void* buf;
  if (fd < 0 || posix_memalign(&buf, 4096, 4096)) return 1;
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < n; i++)
    if (pread(fd, buf, 4096, (i * 7919 % blocks) * 4096) != 4096) return 1;
  clock_gettime(CLOCK_MONOTONIC, &b);
  double ns = (b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec);
  printf("ops=%ld ns_per_op=%.1f\n", n, ns / n);
  return 0;
}
