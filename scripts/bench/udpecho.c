/* UDP request/response throughput, for scripts/bench.sh's UDP row (compiled there with cc; not part
 * of the build): a server that answers each datagram, as a DNS or NTP server does, and a client that
 * keeps a fixed number of requests in flight.
 *
 *   udpecho serve ADDR PORT
 *       binds ADDR:PORT and sends every datagram back to its sender (recvfrom, sendto), until
 *       killed; prints "listening" once bound.
 *   udpecho load ADDR PORT WINDOW SECONDS
 *       connects to ADDR:PORT, keeps WINDOW 64-byte requests in flight for SECONDS (a request
 *       unanswered for 100 ms counts as lost and another takes its place) and prints the answers
 *       a second, then the requests lost.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MSG 64

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: udpecho serve ADDR PORT | udpecho load ADDR PORT WINDOW SECONDS\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
  if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) return 2;
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  if (s < 0) { perror("socket"); return 1; }
  char buf[2048];
  if (strcmp(argv[1], "serve") == 0) {
    if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) { perror("bind"); return 1; }
    printf("listening\n");
    for (;;) {
      struct sockaddr_in from;
      socklen_t len = sizeof from;
      ssize_t n = recvfrom(s, buf, sizeof buf, 0, (struct sockaddr *)&from, &len);
      if (n < 0) {
        if (errno == EINTR) continue;
        perror("recvfrom");
        return 1;
      }
      if (sendto(s, buf, (size_t)n, 0, (struct sockaddr *)&from, len) < 0 && errno != EAGAIN) {
        perror("sendto");
        return 1;
      }
    }
  }
  if (strcmp(argv[1], "load") != 0 || argc < 6) return 2;
  int window = atoi(argv[4]);
  double secs = atof(argv[5]);
  if (window < 1 || secs <= 0) return 2;
  if (connect(s, (struct sockaddr *)&a, sizeof a) != 0) { perror("connect"); return 1; }
  struct timeval tv = {.tv_sec = 0, .tv_usec = 100000};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  memset(buf, 'q', MSG);
  /* A first exchange, unhurried, so that the server's side is warm (ARP, the socket on its stack). */
  for (int i = 0; i < 50; i++) {
    if (send(s, buf, MSG, 0) == MSG && recv(s, buf, sizeof buf, 0) > 0) break;
  }
  for (int i = 0; i < window; i++) send(s, buf, MSG, 0);
  long answers = 0, lost = 0;
  double start = now_s(), end = start + secs;
  while (now_s() < end) {
    if (recv(s, buf, sizeof buf, 0) > 0) {
      answers++;
    } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
      lost++;
    } else if (errno != EINTR && errno != ECONNREFUSED) {
      perror("recv");
      return 1;
    }
    send(s, buf, MSG, 0);
  }
  printf("%.0f %ld\n", answers / (now_s() - start), lost);
  return 0;
}
