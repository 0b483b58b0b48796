/* A successful call leaves errno alone: Linux's system calls set it only when they fail, and
 * programs read it after calls that did not fail (iperf3's server prints strerror(errno) when a
 * client closes before its parameters come: ": " on Linux). Run as the first program on the stack
 * (the shim then starts the service, trying its name first), this sets errno to a value no call
 * gives before each call it makes on stack sockets (a TCP listener, a TCP connection each way,
 * UDP both ways; usage: errno_kept OURS PEER PORT, the peer echoing TCP and UDP on PORT and
 * connecting back to OURS:7781 once its TCP echo ends) and prints every call that succeeded yet changed it; then "errno kept". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#define MARK 4242
static int bad;

/* Checks that CALL did not fail (its value is not -1) and kept errno. */
#define KEPT(call)                                                                        \
  ({                                                                                      \
    errno = MARK;                                                                         \
    long r_ = (long)(call);                                                               \
    if (r_ == -1) {                                                                       \
      printf("%s failed: %s\n", #call, strerror(errno));                                  \
      bad = 1;                                                                            \
    } else if (errno != MARK) {                                                           \
      printf("%s succeeded but errno became %d (%s)\n", #call, errno, strerror(errno));   \
      bad = 1;                                                                            \
    }                                                                                     \
    r_;                                                                                   \
  })

int main(int argc, char **argv) {
  if (argc < 4) return 2;
  struct sockaddr_in me = {.sin_family = AF_INET, .sin_port = htons(7781)};
  struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(atoi(argv[3]))};
  if (inet_pton(AF_INET, argv[1], &me.sin_addr) != 1 || inet_pton(AF_INET, argv[2], &peer.sin_addr) != 1)
    return 2;
  int one = 1, v;
  socklen_t vl = sizeof v;
  struct sockaddr_in got;
  socklen_t gl = sizeof got;
  char buf[256];
  /* The first stack socket: the shim starts the service here (at bind). */
  int l = KEPT(socket(AF_INET, SOCK_STREAM, 0));
  KEPT(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one));
  KEPT(bind(l, (struct sockaddr *)&me, sizeof me));
  KEPT(listen(l, 8));
  KEPT(getsockname(l, (struct sockaddr *)&got, &gl));
  /* Out to the kernel side's echo. */
  int c = KEPT(socket(AF_INET, SOCK_STREAM, 0));
  KEPT(connect(c, (struct sockaddr *)&peer, sizeof peer));
  KEPT(setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one));
  KEPT(getsockopt(c, SOL_SOCKET, SO_ERROR, &v, &vl));
  KEPT(getpeername(c, (struct sockaddr *)&got, &gl));
  KEPT(write(c, "ping\n", 5));
  KEPT(send(c, "pong\n", 5, 0));
  struct pollfd p = {.fd = c, .events = POLLIN};
  KEPT(poll(&p, 1, 5000));
  int n = 0;
  while (n < 10) {
    long r = KEPT(read(c, buf + n, sizeof buf - n));
    if (r <= 0) break;
    n += r;
  }
  KEPT(ioctl(c, FIONREAD, &v));
  KEPT(shutdown(c, SHUT_WR));
  KEPT(recv(c, buf, sizeof buf, 0)); /* end of file */
  KEPT(close(c));
  /* The kernel side connects to the listener once the echo ended. */
  int e = KEPT(epoll_create1(EPOLL_CLOEXEC));
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = l};
  KEPT(epoll_ctl(e, EPOLL_CTL_ADD, l, &ev));
  KEPT(epoll_wait(e, &ev, 1, 5000));
  int a = KEPT(accept4(l, NULL, NULL, SOCK_CLOEXEC));
  KEPT(fcntl(a, F_SETFL, O_NONBLOCK));
  KEPT(sendto(a, "hello\n", 6, 0, NULL, 0));
  p.fd = a;
  KEPT(poll(&p, 1, 5000));
  KEPT(recvfrom(a, buf, sizeof buf, 0, NULL, NULL));
  KEPT(close(a));
  KEPT(close(l));
  /* UDP to the kernel side's echo and back. */
  int u = KEPT(socket(AF_INET, SOCK_DGRAM, 0));
  KEPT(bind(u, (struct sockaddr *)&me, sizeof me));
  KEPT(sendto(u, "udp", 3, 0, (struct sockaddr *)&peer, sizeof peer));
  p.fd = u;
  KEPT(poll(&p, 1, 5000));
  KEPT(recvfrom(u, buf, sizeof buf, 0, (struct sockaddr *)&got, &gl));
  KEPT(connect(u, (struct sockaddr *)&peer, sizeof peer));
  KEPT(close(u));
  KEPT(close(e));
  if (!bad) printf("errno kept\n");
  return bad;
}
