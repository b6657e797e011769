// httploop N [CONNS] [THREADS]: N HTTP/1.1 exchanges over TCP connections on 127.0.0.1: the
// client writes a GET, the server end reads it and writes a 200, the client reads it (four
// socket syscalls an exchange, both ends in one thread, no context switch). CONNS connections
// (default 8) take turns, as wrk's do. THREADS threads (default 1) each make N/THREADS over
// CONNS of their own, in one process: a thread-pool server's requests, one process's keys
// counted on every CPU at once. Prints ns per exchange (wall time over all of them): the L7
// hooks' per-message cost without nginx's and wrk's own noise.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char req[] = "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: httploop\r\n\r\n";
static const char resp[] = "HTTP/1.1 200 OK\r\nServer: httploop\r\nContent-Length: 3\r\n\r\nok\n";

struct loop {
  long n;
  int conns, cli[64], srv[64], failed;
};

static void* run(void* p) {
  struct loop* l = p;
  char buf[512];
  for (long i = 0; i < l->n; i++) {
    int c = i % l->conns;
    if (write(l->cli[c], req, sizeof req - 1) != sizeof req - 1 || read(l->srv[c], buf, sizeof buf) != sizeof req - 1 ||
        write(l->srv[c], resp, sizeof resp - 1) != sizeof resp - 1 ||
        read(l->cli[c], buf, sizeof buf) != sizeof resp - 1) {
      perror("httploop");
      l->failed = 1;
      break;
    }
  }
  return NULL;
}

int main(int argc, char** argv) {
  long n = argc > 1 ? atol(argv[1]) : 200000;
  int conns = argc > 2 ? atoi(argv[2]) : 8, threads = argc > 3 ? atoi(argv[3]) : 1;
  if (conns < 1 || conns > 64 || threads < 1 || threads > 64 || n < threads) {
    fprintf(stderr, "httploop: N >= THREADS, CONNS 1..64, THREADS 1..64\n");
    return 2;
  }
  int lfd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t len = sizeof a;
  if (bind(lfd, (struct sockaddr*)&a, sizeof a) || getsockname(lfd, (struct sockaddr*)&a, &len) ||
      listen(lfd, 64)) {
    perror("httploop: listen");
    return 1;
  }
  static struct loop loops[64];
  for (int t = 0; t < threads; t++) {
    struct loop* l = &loops[t];
    l->n = n / threads;
    l->conns = conns;
    for (int i = 0; i < conns; i++) {
      l->cli[i] = socket(AF_INET, SOCK_STREAM, 0);
      if (connect(l->cli[i], (struct sockaddr*)&a, sizeof a) || (l->srv[i] = accept(lfd, NULL, NULL)) < 0) {
        perror("httploop: connect");
        return 1;
      }
      setsockopt(l->cli[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      setsockopt(l->srv[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
  }
  pthread_t tid[64];
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  for (int t = 1; t < threads; t++)
    if (pthread_create(&tid[t], NULL, run, &loops[t])) {
      perror("httploop: pthread_create");
      return 1;
    }
  run(&loops[0]);
  for (int t = 1; t < threads; t++) pthread_join(tid[t], NULL);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  long total = 0;
  for (int t = 0; t < threads; t++) {
    if (loops[t].failed) return 1;
    total += loops[t].n;
  }
  double ns = (t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec);
  printf("ops=%ld ns_per_op=%.1f\n", total, ns / total);
  return 0;
}
