/* 64-byte request/response over one TCP connection, for scripts/bench.sh's echo rows (compiled there
 * with cc; not part of the build). examples/smoltcp_peer.rs `ping` speaks the same, so the kernel,
 * tapstack (this program preloaded) and smoltcp are measured by the same exchange.
 *
 *   pingpong serve ADDR PORT
 *       listens on ADDR:PORT, accepts one connection and echoes every 64-byte message back until
 *       the peer closes; prints "listening" once it listens.
 *   pingpong ping ADDR PORT SECONDS
 *       connects (TCP_NODELAY), then for SECONDS sends 64 bytes and reads the 64 back, timing each
 *       round trip; prints "AVG MEDIAN" of the one-way time (half the round trip) in microseconds.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64
#define MAX_SAMPLES 4000000

static double now_us(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

/* Reads exactly n bytes; 0 at end of file or error. */
static int read_all(int fd, char *b, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, b + got, n - got);
    if (r <= 0) return 0;
    got += (size_t)r;
  }
  return 1;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: pingpong serve ADDR PORT | pingpong ping ADDR PORT SECONDS\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
  if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) return 2;
  int one = 1;
  char buf[MSG];
  if (strcmp(argv[1], "serve") == 0) {
    int l = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (bind(l, (struct sockaddr *)&a, sizeof a) || listen(l, 1)) { perror("listen"); return 1; }
    printf("listening\n");
    int c = accept(l, NULL, NULL);
    if (c < 0) { perror("accept"); return 1; }
    setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    while (read_all(c, buf, MSG))
      if (write(c, buf, MSG) != MSG) break;
    return 0;
  }
  if (strcmp(argv[1], "ping") != 0 || argc < 5) return 2;
  double secs = atof(argv[4]);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(s, (struct sockaddr *)&a, sizeof a)) { perror("connect"); return 1; }
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  double *rtt = malloc(sizeof(double) * MAX_SAMPLES);
  if (!rtt) return 1;
  memset(buf, 'p', MSG);
  size_t n = 0;
  double start = now_us(), sum = 0;
  while (n < MAX_SAMPLES && now_us() - start < secs * 1e6) {
    double t0 = now_us();
    if (write(s, buf, MSG) != MSG || !read_all(s, buf, MSG)) { fprintf(stderr, "ping: lost the echo\n"); return 1; }
    rtt[n] = now_us() - t0;
    sum += rtt[n++];
  }
  if (n == 0) return 1;
  qsort(rtt, n, sizeof *rtt, cmp);
  printf("%.2f %.2f\n", sum / n / 2, rtt[n / 2] / 2);
  close(s);
  return 0;
}
