// httploop N [CONNS]: N HTTP/1.1 exchanges over TCP connections on 127.0.0.1, one thread: the
// client writes a GET, the server end reads it and writes a 200, the client reads it (four
// socket syscalls an exchange, both ends in one process, no context switch). CONNS connections
// (default 8) take turns, as wrk's do. Prints ns per exchange: the L7 hooks' per-message cost
// without nginx's and wrk's own noise.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 200000;
  int conns = argc > 2 ? atoi(argv[2]) : 8;
  if (conns < 1 || conns > 64) {
    fprintf(stderr, "httploop: CONNS must be 1..64\n");
    return 2;
  }
  int lfd = socket(AF_INET, SOCK_STREAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(lfd, (struct sockaddr*)&a, sizeof a) || getsockname(lfd, (struct sockaddr*)&a, &len) ||
      listen(lfd, 64)) {
    perror("httploop: listen");
    return 1;
  }
  int cli[64], srv[64], one = 1;
  for (int i = 0; i < conns; i++) {
    cli[i] = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(cli[i], (struct sockaddr*)&a, sizeof a) || (srv[i] = accept(lfd, NULL, NULL)) < 0) {
      perror("httploop: connect");
      return 1;
    }
    setsockopt(cli[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    setsockopt(srv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  }
  static const char req[] = "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: httploop\r\n\r\n";
  static const char resp[] = "HTTP/1.1 200 OK\r\nServer: httploop\r\nContent-Length: 3\r\n\r\nok\n";
  char buf[512];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (long i = 0; i < n; i++) {
    int c = i % conns;
    if (write(cli[c], req, sizeof req - 1) != sizeof req - 1 || read(srv[c], buf, sizeof buf) != sizeof req - 1 ||
        write(srv[c], resp, sizeof resp - 1) != sizeof resp - 1 || read(cli[c], buf, sizeof buf) != sizeof resp - 1) {
      perror("httploop");
      return 1;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
  printf("ops=%ld ns_per_op=%.1f\n", n, ns / n);
  return 0;
}
