/* Descriptors of one stack socket, run under the preload by t_pm_dup.sh against pm_peer.py (echo on
 * 9000, control on 9009 to ask whether the peer has seen a connection end).
 *
 * dup, dup2, dup3 (O_CLOEXEC), fcntl F_DUPFD and F_DUPFD_CLOEXEC each give a working descriptor of the
 * same connection (bytes written on one are echoed back on another; the close-on-exec flag is the
 * descriptor's own). Closing them one by one leaves the connection open until the last; the last
 * one lives in a forked child, and the peer sees the FIN only when the child closes it.
 * close_range and closefrom close stack sockets: their descriptors are gone (EBADF) and the peer
 * sees each connection end, while a connection below the range carries on.
 * Usage: pm_fds KERNEL_IP dups|range. Prints one line per check and "PASS <part>". */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static const char *ip;
static int ctl;

static void echo_via(int w, int r, const char *msg);

/* A connection to the peer's PORT; to the echo port, one exchange first, so that the peer has
 * accepted it before the control port is asked about it. */
static int connect_to(int port) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0, "socket");
    struct sockaddr_in a = addr_of(ip, port);
    CHECK(connect(s, (struct sockaddr *)&a, sizeof a) == 0, "connect to %s:%d", ip, port);
    struct timeval tv = {5, 0};
    CHECK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO");
    if (port == 9000) echo_via(s, s, "hello");
    return s;
}

static int local_port(int fd) {
    struct sockaddr_in a;
    socklen_t len = sizeof a;
    CHECK(getsockname(fd, (struct sockaddr *)&a, &len) == 0, "getsockname(%d)", fd);
    return ntohs(a.sin_port);
}

/* The peer's view of the connection from our port: "open", "eof N SHA", "rst N SHA", "unknown". */
static void state(int port, char *out, size_t size) {
    char q[32];
    int n = snprintf(q, sizeof q, "STATE %d\n", port);
    CHECK(write(ctl, q, (size_t)n) == n, "control write");
    size_t got = 0;
    while (got < size - 1) {
        ssize_t r = read(ctl, out + got, 1);
        CHECK(r == 1, "control read");
        if (out[got] == '\n') break;
        got++;
    }
    out[got] = 0;
}

static void expect_open(int port, const char *when) {
    char s[200];
    state(port, s, sizeof s);
    CHECK(strcmp(s, "open") == 0, "%s: the peer says the connection from port %d is \"%s\"", when, port, s);
}

/* Waits up to 2 s for the peer to see the connection end with a FIN. */
static void expect_end(int port, const char *when) {
    char s[200];
    double t0 = now_s();
    do {
        state(port, s, sizeof s);
        if (strncmp(s, "open", 4) != 0) break;
        usleep(20000);
    } while (now_s() - t0 < 2);
    CHECK(strncmp(s, "eof ", 4) == 0, "%s: the peer says the connection from port %d is \"%s\"", when, port, s);
    printf("%s: the peer saw the FIN after %.3f s\n", when, now_s() - t0);
}

/* Writes MSG on W and reads the echo on R. */
static void echo_via(int w, int r, const char *msg) {
    size_t len = strlen(msg);
    CHECK(write(w, msg, len) == (ssize_t)len, "write \"%s\" on %d", msg, w);
    char buf[128];
    size_t got = 0;
    while (got < len) {
        ssize_t n = read(r, buf + got, len - got);
        CHECK(n > 0, "read the echo of \"%s\" on %d", msg, r);
        got += (size_t)n;
    }
    CHECK(memcmp(buf, msg, len) == 0, "echo of \"%s\" on %d differs", msg, r);
}

static int cloexec(int fd) {
    int f = fcntl(fd, F_GETFD);
    CHECK(f >= 0, "F_GETFD %d", fd);
    return (f & FD_CLOEXEC) != 0;
}

static void expect_closed(int fd, const char *how) {
    errno = 0;
    CHECK(fcntl(fd, F_GETFD) == -1 && errno == EBADF, "%s left descriptor %d open", how, fd);
}

static void dups(void) {
    int c = connect_to(9000);
    int port = local_port(c);
    int d[5];
    d[0] = dup(c);
    CHECK(d[0] >= 0, "dup");
    CHECK(dup2(c, 50) == 50, "dup2");
    d[1] = 50;
    CHECK(dup3(c, 51, O_CLOEXEC) == 51, "dup3");
    d[2] = 51;
    d[3] = fcntl(c, F_DUPFD, 60);
    CHECK(d[3] >= 60, "F_DUPFD");
    d[4] = fcntl(c, F_DUPFD_CLOEXEC, 70);
    CHECK(d[4] >= 70, "F_DUPFD_CLOEXEC");
    const char *names[5] = {"dup", "dup2", "dup3", "F_DUPFD", "F_DUPFD_CLOEXEC"};
    int want_cloexec[5] = {0, 0, 1, 0, 1};
    CHECK(!cloexec(c), "the original is close-on-exec");
    for (int i = 0; i < 5; i++) {
        CHECK(cloexec(d[i]) == want_cloexec[i], "%s: close-on-exec is %d", names[i], cloexec(d[i]));
        CHECK(local_port(d[i]) == port, "%s: another socket", names[i]);
        char msg[64];
        snprintf(msg, sizeof msg, "via %s", names[i]);
        echo_via(d[i], c, msg);
        echo_via(c, d[i], msg);
        printf("%s: descriptor %d works both ways\n", names[i], d[i]);
    }

    /* Close all but the last; the connection stays. */
    CHECK(close(c) == 0, "close");
    for (int i = 0; i < 4; i++) {
        expect_open(port, "after closing some descriptors");
        echo_via(d[4], d[4], "still");
        CHECK(close(d[i]) == 0, "close %s", names[i]);
    }
    expect_open(port, "with one descriptor left");
    printf("closing descriptors one by one: the connection stays while one remains\n");

    /* The last descriptor is shared with a child; the parent closes first. */
    int go[2];
    CHECK(pipe(go) == 0, "pipe");
    pid_t pid = fork();
    CHECK(pid >= 0, "fork");
    if (pid == 0) {
        alarm(10);
        char b;
        CHECK(read(go[0], &b, 1) == 1, "child: wait");
        echo_via(d[4], d[4], "child after the parent closed");
        _exit(0);
    }
    CHECK(close(d[4]) == 0, "close in the parent");
    usleep(200000);
    expect_open(port, "after the parent closed its last descriptor");
    CHECK(write(go[1], "g", 1) == 1, "go");
    int status;
    CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child status %d", status);
    expect_end(port, "after the child exited");
}

static void range(void) {
    int ports[4];
    for (int i = 0; i < 3; i++) {
        int s = connect_to(9000);
        ports[i] = local_port(s);
        CHECK(dup2(s, 100 + i) == 100 + i, "dup2 to %d", 100 + i);
        CHECK(close(s) == 0, "close");
    }
    CHECK(dup2(102, 103) == 103, "dup2 to 103");
    int below = connect_to(9000);
    CHECK(below < 100, "descriptor %d", below);
    ports[3] = local_port(below);
    CHECK(close_range(100, 100, 0) == 0, "close_range");
    expect_closed(100, "close_range");
    expect_end(ports[0], "close_range(100, 100)");
    expect_open(ports[1], "after close_range(100, 100)");
    echo_via(101, 101, "after close_range");
    closefrom(101);
    for (int fd = 101; fd <= 103; fd++) expect_closed(fd, "closefrom");
    expect_end(ports[1], "closefrom(101)");
    expect_end(ports[2], "closefrom(101) (two descriptors)");
    echo_via(below, below, "below the range");
    expect_open(ports[3], "below the range");
}

int main(int argc, char **argv) {
    CHECK(argc == 3, "usage: pm_fds KERNEL_IP dups|range");
    ip = argv[1];
    signal(SIGPIPE, SIG_IGN);
    ctl = connect_to(9009);
    if (strcmp(argv[2], "dups") == 0)
        dups();
    else if (strcmp(argv[2], "range") == 0)
        range();
    else
        CHECK(0, "unknown part %s", argv[2]);
    printf("PASS %s\n", argv[2]);
    return 0;
}
