/* A socket's number given to another file while a thread's blocking connect on it is still under
 * way: run under the preload by t_close_connecting.sh. A thread connects to an address nobody
 * answers (no ARP reply: EHOSTUNREACH after about 3 s); meanwhile the main thread closes the
 * socket and opens a connection to the echo peer, which takes the number, or puts a file there
 * with dup2 (the JDK closes a socket so). When the connect fails, Linux leaves the number alone;
 * the shim used to put a fresh kernel socket there (a failed connect's socket becomes as new),
 * and the program's connection or file was gone. Usage: pm_close_connecting KERNEL_IP FILE.
 * Prints what each number holds after, then "PASS close connecting". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fd;

static void *connect_nowhere(void *arg) {
  (void)arg;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(80)};
  inet_pton(AF_INET, "10.77.0.3", &a.sin_addr);
  int r = connect(fd, (struct sockaddr *)&a, sizeof a);
  printf("connect %d %s\n", r, r < 0 ? strerror(errno) : "");
  return 0;
}

static int failed;
static void check(const char *what, int ok) {
  printf("%s %s\n", what, ok ? "ok" : "FAIL");
  failed |= !ok;
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(9000)};
  inet_pton(AF_INET, argv[1], &peer.sin_addr);
  pthread_t t;
  char buf[8];

  /* The number taken by a new connection. */
  fd = socket(AF_INET, SOCK_STREAM, 0);
  pthread_create(&t, 0, connect_nowhere, 0);
  usleep(300000);
  close(fd);
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (s != fd || connect(s, (struct sockaddr *)&peer, sizeof peer) != 0) {
    printf("setup: socket %d for %d, %s\n", s, fd, strerror(errno));
    return 1;
  }
  pthread_join(t, 0);
  check("new connection writes", write(s, "two", 3) == 3);
  check("new connection reads", read(s, buf, 3) == 3 && memcmp(buf, "two", 3) == 0);
  struct sockaddr_in n;
  socklen_t l = sizeof n;
  check("new connection has its peer", getpeername(s, (struct sockaddr *)&n, &l) == 0);
  close(s);

  /* The number given to a file with dup2. */
  fd = socket(AF_INET, SOCK_STREAM, 0);
  pthread_create(&t, 0, connect_nowhere, 0);
  usleep(300000);
  int f = open(argv[2], O_RDWR | O_CREAT | O_TRUNC, 0644);
  dup2(f, fd);
  close(f);
  pthread_join(t, 0);
  char path[64], link[256] = {0};
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  readlink(path, link, sizeof link - 1);
  check("the file keeps its number", strcmp(link, argv[2]) == 0);
  check("the file takes a write", write(fd, "file", 4) == 4);
  if (!failed) printf("PASS close connecting\n");
  return failed;
}
