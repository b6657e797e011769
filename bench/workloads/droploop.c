// droploop N: N x sendto of a 64-byte UDP datagram to a port nothing listens on, 127.0.0.1: the
// kernel drops each (reason no_socket) in the sender's own sendto. Prints ns per op.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 200000;
  int gone = socket(AF_INET, SOCK_DGRAM, 0), tx = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(gone, (struct sockaddr*)&a, sizeof a) || getsockname(gone, (struct sockaddr*)&a, &len)) {
    perror("droploop: bind");
    return 1;
  }
  close(gone);  // its port is closed now
  char buf[64] = {0};
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; i++) sendto(tx, buf, sizeof buf, 0, (struct sockaddr*)&a, sizeof a);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
  printf("ops=%ld ns_per_op=%.1f\n", n, ns / n);
  return 0;
}
