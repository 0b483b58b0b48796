/* Many idle TCP connections, for scripts/bench.sh (compiled there with cc; not part of the build).
 *
 *   conns hold ADDR PORT
 *       listens on ADDR:PORT (backlog 65535) and accepts forever, keeping every connection open and
 *       never reading; prints "listening pid=PID" once it listens. The caller bounds it (timeout, kill).
 *   conns open ADDR PORT COUNT SECONDS FIFO
 *       opens one connection, prints "base" and waits for a line on FIFO (the caller samples memory);
 *       then opens the rest one after another, blocking connect each, until COUNT are open or
 *       SECONDS have passed since the first; prints
 *           opened=K target=COUNT secs=T failed=F error=FIRST_ERROR
 *       keeps them all open and waits for another line on FIFO (the caller measures the idle
 *       connections), then exits.
 * Both raise RLIMIT_NOFILE to fit. Output is line-buffered for the caller to read as it goes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static void raise_nofile(long want) {
  struct rlimit r;
  if (getrlimit(RLIMIT_NOFILE, &r) != 0) return;
  if ((long)r.rlim_cur >= want) return;
  if ((long)r.rlim_max < want) r.rlim_max = want; /* root may raise the hard limit too */
  r.rlim_cur = want;
  if (setrlimit(RLIMIT_NOFILE, &r) != 0) {
    getrlimit(RLIMIT_NOFILE, &r);
    r.rlim_cur = r.rlim_max; /* as far as we may */
    setrlimit(RLIMIT_NOFILE, &r);
  }
}

static struct sockaddr_in parse_addr(const char *ip, const char *port) {
  struct sockaddr_in sa;
  memset(&sa, 0, sizeof sa);
  sa.sin_family = AF_INET;
  sa.sin_port = htons((unsigned short)atoi(port));
  if (inet_pton(AF_INET, ip, &sa.sin_addr) != 1) {
    fprintf(stderr, "conns: bad address %s\n", ip);
    exit(2);
  }
  return sa;
}

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

/* Waits for one line on the FIFO (opened read-write, so open never blocks and read waits for data). */
static void wait_fifo(int fd) {
  char c = 0;
  while (c != '\n') {
    ssize_t n = read(fd, &c, 1);
    if (n == 0) return;
    if (n < 0 && errno != EINTR) return;
  }
}

static int hold(const char *ip, const char *port) {
  raise_nofile(1 << 17);
  struct sockaddr_in sa = parse_addr(ip, port);
  int l = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  if (l < 0) { perror("conns: socket"); return 1; }
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (bind(l, (struct sockaddr *)&sa, sizeof sa) != 0) { perror("conns: bind"); return 1; }
  if (listen(l, 65535) != 0) { perror("conns: listen"); return 1; }
  printf("listening pid=%d\n", (int)getpid());
  for (;;) {
    int c = accept(l, NULL, NULL);
    if (c < 0 && (errno == EMFILE || errno == ENFILE)) {
      fprintf(stderr, "conns: accept: %s (holding them all, no more)\n", strerror(errno));
      pause();
    }
  }
}

static volatile sig_atomic_t expired;
static void on_alarm(int sig) { (void)sig; expired = 1; }

static int open_many(const char *ip, const char *port, long count, double secs, const char *fifo) {
  raise_nofile(count + 1024);
  struct sockaddr_in sa = parse_addr(ip, port);
  int ctl = open(fifo, O_RDWR);
  if (ctl < 0) { perror("conns: fifo"); return 1; }

  /* A connect still blocked at the deadline ends with EINTR (no SA_RESTART). */
  struct sigaction act;
  memset(&act, 0, sizeof act);
  act.sa_handler = on_alarm;
  sigaction(SIGALRM, &act, NULL);

  long opened = 0, failed = 0;
  char first_error[128] = "none";
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof sa) != 0) {
    printf("opened=0 target=%ld secs=0 failed=1 error=first_connect:%s\n", count, strerror(errno));
    return 1;
  }
  opened = 1;
  printf("base\n");
  wait_fifo(ctl);

  double start = now();
  alarm((unsigned)secs + 1);
  while (opened < count && !expired && now() - start < secs) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok = fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof sa) == 0;
    if (ok) {
      opened++;
      continue;
    }
    int e = errno;
    if (fd >= 0) close(fd);
    if (e == EINTR && expired) break;
    if (failed++ == 0) snprintf(first_error, sizeof first_error, "%s_at_%ld", strerror(e), opened);
    for (char *p = first_error; *p; p++)
      if (*p == ' ') *p = '_';
    if (fd < 0) break; /* no descriptor left: nothing more to try */
  }
  alarm(0);
  printf("opened=%ld target=%ld secs=%.3f failed=%ld error=%s\n", opened, count, now() - start, failed,
         first_error);
  wait_fifo(ctl);
  return 0;
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 4 && strcmp(argv[1], "hold") == 0) return hold(argv[2], argv[3]);
  if (argc == 7 && strcmp(argv[1], "open") == 0)
    return open_many(argv[2], argv[3], atol(argv[4]), atof(argv[5]), argv[6]);
  fprintf(stderr, "usage: conns hold ADDR PORT | conns open ADDR PORT COUNT SECONDS FIFO\n");
  return 2;
}
