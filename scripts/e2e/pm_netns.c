/* A child that leaves the network namespace, as vsftpd's session process does: run under the
 * preload by t_pm_netns.sh against pm_peer.py (echo on 9000).
 *
 * The parent connects a TCP socket; a child made by fork then unshare(CLONE_NEWNET), and one made
 * by a raw clone(CLONE_NEWNET) (no fork handlers: vsftpd's way), each use the inherited socket:
 * setsockopt, getsockopt, getsockname, getpeername, send, recv and shutdown all succeed as on the
 * kernel, and a new socket of the child's is in its new namespace (no route: ENETUNREACH). On the
 * stack, the child can no longer reach the service by its name (abstract names belong to the
 * namespace); it goes through the door its parent left it. The parent carries on after.
 *
 * Then an inetd-style child: its stderr is a stack socket, it leaves the namespace and execs (no
 * door survives exec); whatever the stack has to say must not be written into that socket: the
 * peer echoes back exactly what the program wrote.
 *
 * Usage: pm_netns KERNEL_IP STACK_IP, or pm_netns probe (the exec'd child). Prints one line per
 * check and "PASS netns". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static const char *ip, *stack_ip;

static void echo(int s, const char *msg) {
    size_t n = strlen(msg);
    char buf[128];
    CHECK(send(s, msg, n, 0) == (ssize_t)n, "send %s", msg);
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(s, buf + got, n - got, 0);
        CHECK(r > 0, "recv the echo of %s", msg);
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

static ino_t netns(void) {
    struct stat st;
    CHECK(stat("/proc/self/ns/net", &st) == 0, "stat /proc/self/ns/net");
    return st.st_ino;
}

/* Everything a child outside the namespace does with the inherited socket `s`. */
static void outside(int s, const char *who, ino_t parent_ns) {
    CHECK(netns() != parent_ns, "%s: still in the parent's network namespace", who);
    int one = 1, v = 0;
    socklen_t len = sizeof v;
    CHECK(setsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one) == 0, "%s: setsockopt SO_KEEPALIVE", who);
    CHECK(getsockopt(s, SOL_SOCKET, SO_KEEPALIVE, &v, &len) == 0 && v == 1, "%s: getsockopt SO_KEEPALIVE", who);
    CHECK(setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) == 0, "%s: setsockopt TCP_NODELAY", who);
    v = 0;
    len = sizeof v;
    CHECK(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &len) == 0 && v == 1, "%s: getsockopt TCP_NODELAY", who);
    struct sockaddr_in a;
    len = sizeof a;
    memset(&a, 0, sizeof a);
    CHECK(getsockname(s, (struct sockaddr *)&a, &len) == 0, "%s: getsockname", who);
    char text[INET_ADDRSTRLEN] = "";
    inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
    CHECK(a.sin_family == AF_INET && strcmp(text, stack_ip) == 0 && a.sin_port != 0,
          "%s: getsockname says family %d %s:%d", who, a.sin_family, text, ntohs(a.sin_port));
    len = sizeof a;
    memset(&a, 0, sizeof a);
    CHECK(getpeername(s, (struct sockaddr *)&a, &len) == 0, "%s: getpeername", who);
    inet_ntop(AF_INET, &a.sin_addr, text, sizeof text);
    CHECK(a.sin_family == AF_INET && strcmp(text, ip) == 0 && ntohs(a.sin_port) == 9000,
          "%s: getpeername says family %d %s:%d", who, a.sin_family, text, ntohs(a.sin_port));
    echo(s, "from the child outside");
    /* A new socket is the new namespace's: nothing routes there. */
    int c = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(c >= 0, "%s: socket", who);
    struct sockaddr_in to = addr_of(ip, 9000);
    errno = 0;
    CHECK(connect(c, (struct sockaddr *)&to, sizeof to) == -1 && errno == ENETUNREACH,
          "%s: a new socket's connect from the new namespace", who);
    close(c);
    CHECK(shutdown(s, SHUT_WR) == 0, "%s: shutdown", who);
    char b;
    CHECK(recv(s, &b, 1, 0) == 0, "%s: end of file after the shutdown", who);
    printf("ok: %s: the inherited socket answers every call; a new socket is the namespace's\n", who);
    fflush(stdout);
}

static void run_child(const char *how) {
    ino_t ns = netns();
    int s = connect_echo();
    echo(s, "parent before");
    long p;
    if (strcmp(how, "clone") == 0) {
        /* vsftpd's way: no fork handlers run, and the child is in a new namespace at once. */
        p = syscall(SYS_clone, (unsigned long)(CLONE_NEWNET | SIGCHLD), 0L, 0L, 0L, 0L);
    } else {
        p = fork();
    }
    CHECK(p >= 0, "%s", how);
    if (p == 0) {
        if (strcmp(how, "unshare") == 0)
            CHECK(unshare(CLONE_NEWNET) == 0, "unshare(CLONE_NEWNET)");
        outside(s, how, ns);
        _exit(0);
    }
    int st;
    CHECK(waitpid((pid_t)p, &st, 0) == p, "waitpid");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the %s child failed (status %#x)", how, st);
    close(s);
    int c = connect_echo();
    echo(c, "parent after");
    close(c);
    printf("ok: %s: the parent carries on\n", how);
}

/* The exec'd inetd-style child: its stderr is the socket; it uses it, and says one line there. */
static int probe(void) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    int one = 1;
    /* Their results are not checked: on the stack they may fail (no door across exec). */
    (void)getsockname(2, (struct sockaddr *)&a, &len);
    (void)setsockopt(2, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof one);
    const char line[] = "probe\n";
    return write(2, line, sizeof line - 1) == (ssize_t)(sizeof line - 1) ? 0 : 1;
}

static void inetd(const char *self) {
    int s = connect_echo();
    const char first[] = "inetd\n";
    CHECK(write(s, first, sizeof first - 1) == (ssize_t)(sizeof first - 1), "write");
    pid_t p = fork();
    CHECK(p >= 0, "fork");
    if (p == 0) {
        if (dup2(s, 2) != 2 || unshare(CLONE_NEWNET) != 0)
            _exit(2);
        execl("/proc/self/exe", self, "probe", (char *)NULL);
        _exit(3);
    }
    int st;
    CHECK(waitpid(p, &st, 0) == p, "waitpid");
    CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0, "the inetd-style child failed (status %#x)", st);
    CHECK(shutdown(s, SHUT_WR) == 0, "shutdown");
    char buf[4096];
    size_t got = 0;
    for (;;) {
        ssize_t r = recv(s, buf + got, sizeof buf - 1 - got, 0);
        CHECK(r >= 0, "recv");
        if (r == 0)
            break;
        got += (size_t)r;
        if (got >= sizeof buf - 1)
            break;
    }
    buf[got] = 0;
    CHECK(strcmp(buf, "inetd\nprobe\n") == 0, "the connection on the child's stderr carried [%s]", buf);
    close(s);
    printf("ok: inetd: nothing but the program's own bytes went into the socket on its stderr\n");
}

int main(int argc, char **argv) {
    if (argc == 2 && strcmp(argv[1], "probe") == 0)
        return probe();
    CHECK(argc == 3, "usage: pm_netns KERNEL_IP STACK_IP");
    ip = argv[1];
    stack_ip = argv[2];
    setvbuf(stdout, NULL, _IOLBF, 0);
    run_child("unshare");
    run_child("clone");
    inetd(argv[0]);
    printf("PASS netns\n");
    return 0;
}
