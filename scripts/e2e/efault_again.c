/* A receive loop's address and length live in a page the program then unmaps and maps again
 * with no access (as a test of EFAULT does): the next recvfrom with the same pointers is EFAULT,
 * from the shim as from the kernel, though the shim had found them writable before and stopped
 * checking (its remembered checks are forgotten when a mapping changes, src/posix/maps.rs).
 * The same with mprotect(PROT_READ), and with the page moved away by mremap. Prints one line per
 * round. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  int s = socket(AF_INET, SOCK_DGRAM, 0), c = socket(AF_INET, SOCK_DGRAM, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(7777)};
  if (inet_pton(AF_INET, argv[1], &a.sin_addr) != 1) return 2;
  if (bind(s, (struct sockaddr *)&a, sizeof a) != 0) { perror("bind"); return 1; }
  char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (page == MAP_FAILED) return 1;
  struct sockaddr_in *from = (struct sockaddr_in *)page;
  socklen_t *len = (socklen_t *)(page + 64);
  const char *what[] = {"first", "again", "unmapped and mapped with no access", "writable again", "read-only",
                        "writable again", "moved away by mremap"};
  char *elsewhere = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (elsewhere == MAP_FAILED) return 1;
  char buf[64];
  for (int round = 0; round < 7; round++) {
    if (round == 2) {
      munmap(page, 4096);
      if (mmap(page, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) == MAP_FAILED) return 1;
    } else if (round == 3) {
      mprotect(page, 4096, PROT_READ | PROT_WRITE);
    } else if (round == 4) {
      *len = sizeof *from;
      mprotect(page, 4096, PROT_READ);
    } else if (round == 5) {
      mprotect(page, 4096, PROT_READ | PROT_WRITE);
    } else if (round == 6) {
      *len = sizeof *from;
      if (mremap(page, 4096, 4096, MREMAP_MAYMOVE | MREMAP_FIXED, elsewhere) == MAP_FAILED) return 1;
    }
    if (round < 2 || round == 3 || round == 5) *len = sizeof *from;
    if (sendto(c, "x", 1, 0, (struct sockaddr *)&a, sizeof a) != 1) { perror("sendto"); return 1; }
    ssize_t n = -1;
    for (int i = 0; i < 100; i++) {
      n = recvfrom(s, buf, sizeof buf, MSG_DONTWAIT, (struct sockaddr *)from, len);
      if (!(n < 0 && errno == EAGAIN)) break;
      usleep(10000);
    }
    printf("%s: %s\n", what[round], n < 0 ? strerror(errno) : "received");
  }
  return 0;
}
