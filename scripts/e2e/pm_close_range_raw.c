/* close_range(2) by its number, as programs built before glibc 2.34 call it: run under the preload
 * by t_pm_close_range_raw.sh against pm_peer.py (echo on 9000). Every descriptor above a
 * connected socket is closed; the socket keeps echoing and new connections still work, as on the
 * kernel. The raw call used to close the shim's own connection to the service too, and every
 * later socket call said the service was gone. Usage: pm_close_range_raw KERNEL_IP. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

static struct sockaddr_in peer;

static int echo(int s, const char *what) {
  char b[4] = {0};
  int ok = write(s, what, 2) == 2 && read(s, b, 2) == 2 && memcmp(b, what, 2) == 0;
  printf("%s %s\n", what, ok ? "echoed" : "FAIL");
  return ok;
}

static int connected(void) {
  int s = socket(AF_INET, SOCK_STREAM, 0);
  if (connect(s, (struct sockaddr *)&peer, sizeof peer) != 0) return -1;
  return s;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  peer.sin_family = AF_INET;
  peer.sin_port = htons(9000);
  inet_pton(AF_INET, argv[1], &peer.sin_addr);
  int s = connected();
  if (s < 0 || !echo(s, "ab")) return 1;
  long r = syscall(SYS_close_range, s + 1, ~0U, 0);
  printf("close_range %ld\n", r);
  int ok = echo(s, "cd");
  int t = connected();
  ok &= t >= 0 && echo(t, "ef");
  if (ok) printf("PASS close_range raw\n");
  return !ok;
}
