/* Threads at the descriptor limit: run under the preload by t_pm_threads_limit.sh against
 * pm_peer.py (echo on 9000). With RLIMIT_NOFILE low, many threads each make a socket, connect,
 * send a tag of their own and read the echo. Some may fail with EMFILE (each thread of a program
 * on the stack holds a control connection too), but a connect that succeeded must carry this
 * thread's bytes and no one else's: the shim freed a socket's own number for the service's answer
 * when the table was full, another thread took the number meanwhile, and descriptors crossed
 * (another thread's tag, or the control protocol's bytes, came back; writes said EBADF).
 * Usage: pm_threads_limit KERNEL_IP LIMIT THREADS. Prints the counts, then "PASS threads limit". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

static struct sockaddr_in peer;
static atomic_int ok, refused, crossed;

static void *one(void *arg) {
  long id = (long)arg;
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0) {
    refused++;
    return 0;
  }
  if (connect(s, (struct sockaddr *)&peer, sizeof peer) < 0) {
    refused++;
    close(s);
    return 0;
  }
  struct timeval tv = {3, 0};
  setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  char tag[8], got[8] = {0};
  snprintf(tag, sizeof tag, "<%04ld>", id);
  int r = 0;
  if (write(s, tag, 6) == 6) {
    while (r < 6) {
      int k = read(s, got + r, 6 - r);
      if (k <= 0) break;
      r += k;
    }
  }
  if (r == 6 && memcmp(got, tag, 6) == 0) {
    ok++;
  } else {
    crossed++;
    printf("thread %ld fd %d: wrote %s, read %d bytes (%s)\n", id, s, tag, r, strerror(errno));
  }
  sleep(1);
  close(s);
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  peer.sin_family = AF_INET;
  peer.sin_port = htons(9000);
  inet_pton(AF_INET, argv[1], &peer.sin_addr);
  struct rlimit rl = {atoi(argv[2]), atoi(argv[2])};
  setrlimit(RLIMIT_NOFILE, &rl);
  int n = atoi(argv[3]);
  pthread_t *t = calloc(n, sizeof *t);
  for (long i = 0; i < n; i++) pthread_create(&t[i], 0, one, (void *)i);
  for (int i = 0; i < n; i++) pthread_join(t[i], 0);
  printf("ok %d refused %d crossed %d\n", (int)ok, (int)refused, (int)crossed);
  if (crossed == 0 && ok > 0) printf("PASS threads limit\n");
  return 0;
}
