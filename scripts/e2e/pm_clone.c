/* A child made by a raw clone(2) without CLONE_VM, as vsftpd makes one per session (with new
 * namespaces): run under the preload by t_pm_clone.sh against pm_peer.py (echo on 9000).
 *
 * The fork handlers do not run for such a child, yet it has its own copy of the program's memory:
 * it is a forked process, and its stack sockets must answer as stack sockets (getpeername an
 * AF_INET address, socket options the stack's), new sockets it makes must go through the stack,
 * and the parent's own socket calls must go on working beside it. Before, the shim took it for a
 * vfork child and left every call to libc, so getpeername said AF_UNIX.
 * Usage: pm_clone KERNEL_IP. Prints one line per check and "PASS clone". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static const char *ip;

static void echo(int s, const char *msg) {
    size_t n = strlen(msg);
    char buf[64];
    CHECK(write(s, msg, n) == (ssize_t)n, "write %s", msg);
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(s, buf + got, n - got);
        CHECK(r > 0, "read the echo of %s", msg);
        got += (size_t)r;
    }
    CHECK(memcmp(buf, msg, n) == 0, "echo of %s", msg);
}

static int connect_echo(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0, "socket");
    struct sockaddr_in a = addr_of(ip, 9000);
    CHECK(connect(s, (struct sockaddr *)&a, sizeof a) == 0, "connect to %s:9000", ip);
    return s;
}

/* What a process sees of its stack socket: its peer's address, TCP_NODELAY set and read back. */
static void look(int s, const char *who) {
    struct sockaddr_in p;
    socklen_t len = sizeof p;
    memset(&p, 0, sizeof p);
    CHECK(getpeername(s, (struct sockaddr *)&p, &len) == 0, "%s: getpeername", who);
    CHECK(p.sin_family == AF_INET && ntohs(p.sin_port) == 9000, "%s: getpeername says family %d port %d",
          who, p.sin_family, ntohs(p.sin_port));
    int one = 1, v = 0;
    len = sizeof v;
    CHECK(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0, "%s: TCP_NODELAY", who);
    CHECK(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 && v == 1, "%s: TCP_NODELAY read back", who);
}

int main(int argc, char **argv) {
    CHECK(argc == 2, "usage: pm_clone KERNEL_IP");
    ip = argv[1];
    setvbuf(stdout, NULL, _IOLBF, 0);
    int s = connect_echo();
    echo(s, "parent before");
    /* fork(2) in all but name: no CLONE_VM, so no fork handlers and a copy of our memory. */
    long p = syscall(SYS_clone, (unsigned long)SIGCHLD, 0L, 0L, 0L, 0L);
    CHECK(p >= 0, "clone");
    if (p == 0) {
        look(s, "child");
        echo(s, "child on the inherited socket");
        int c = connect_echo();
        look(c, "child, its own socket");
        echo(c, "child on its own socket");
        close(c);
        printf("ok: the cloned child's sockets answer as stack sockets\n");
        fflush(stdout);
        _exit(0);
    }
    int st;
    CHECK(waitpid((pid_t)p, &st, 0) == p, "waitpid");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the cloned child failed (status %#x)", st);
    look(s, "parent after");
    echo(s, "parent after");
    int c = connect_echo();
    echo(c, "parent, a new socket");
    printf("ok: the parent's calls carry on beside it\n");
    printf("PASS clone\n");
    return 0;
}
