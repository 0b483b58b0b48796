/* A program out of descriptors, run under the preload by t_pm_limits.sh (and on the kernel with
 * E2E_KERNEL=1, where every line must read the same).
 *
 * With a listener on PORT and a connection to the kernel-side echo peer (pm_peer.py, port 9000), it
 * lowers RLIMIT_NOFILE and opens sockets until socket() fails, then checks that each call needing a
 * new descriptor fails with EMFILE: socket, socketpair, dup, F_DUPFD, accept and accept4 (at once,
 * before any connection waits, as Linux reserves the number first); dup2 onto a number in use still
 * works, and so do bind, listen, connect (blocking or not) and a first sendto on a socket it already
 * has (one whose bind fails stays usable). Then it prints "FULL", and
 * the script's client connects to PORT and sends a line. An accept then still fails with EMFILE
 * and leaves the connection queued: once a descriptor is closed, accept returns it with its line
 * intact. Closing more lets it carry on: new sockets, connected and echoing.
 * Usage: pm_limits KERNEL_IP PORT. Prints "PASS limits" at the end. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"

#define LIMIT 64

static const char *ip;

/* Expects `r` to be -1 with EMFILE, and says so. */
static void expect_emfile(long r, const char *what) {
    CHECK(r == -1 && errno == EMFILE, "%s gave %ld, not EMFILE", what, r);
    printf("ok %s: EMFILE\n", what);
}

static void echo(int s, const char *msg) {
    size_t n = strlen(msg);
    CHECK(write(s, msg, n) == (ssize_t)n, "write");
    char buf[64];
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(s, buf + got, n - got);
        CHECK(r > 0, "read the echo");
        got += (size_t)r;
    }
    CHECK(memcmp(buf, msg, n) == 0, "the echo differs");
}

static int connect_echo(void) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(s >= 0, "socket");
    struct sockaddr_in a = addr_of(ip, 9000);
    CHECK(connect(s, (struct sockaddr *)&a, sizeof a) == 0, "connect to the echo peer");
    struct timeval tv = {5, 0};
    CHECK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO");
    return s;
}

int main(int argc, char **argv) {
    CHECK(argc == 3, "usage: pm_limits KERNEL_IP PORT");
    ip = argv[1];
    int port = atoi(argv[2]);
    setvbuf(stdout, NULL, _IOLBF, 0);

    int l = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(l >= 0, "socket");
    int one = 1;
    CHECK(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "SO_REUSEADDR");
    struct sockaddr_in a = addr_of("0.0.0.0", port);
    CHECK(bind(l, (struct sockaddr *)&a, sizeof a) == 0, "bind the listener");
    CHECK(listen(l, 8) == 0, "listen");
    int c = connect_echo();
    echo(c, "before");

    struct rlimit lim;
    CHECK(getrlimit(RLIMIT_NOFILE, &lim) == 0, "getrlimit");
    lim.rlim_cur = LIMIT;
    CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0, "setrlimit");

    /* A UDP socket, not yet used. */
    int d = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(d >= 0, "socket(SOCK_DGRAM)");

    /* Fill the table with sockets not yet bound or connected. */
    int fill[LIMIT];
    int n = 0;
    for (;;) {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        if (s < 0) break;
        CHECK(n < LIMIT, "more than %d descriptors under a limit of %d", n, LIMIT);
        fill[n++] = s;
    }
    expect_emfile(-1, "socket");
    int sp[2];
    expect_emfile(socketpair(AF_UNIX, SOCK_STREAM, 0, sp), "socketpair");
    expect_emfile(dup(l), "dup of the listener");
    expect_emfile(dup(c), "dup of a connection");
    expect_emfile(fcntl(c, F_DUPFD_CLOEXEC, 0), "F_DUPFD_CLOEXEC of a connection");
    expect_emfile(accept(l, NULL, NULL), "accept with nothing queued (blocking listener)");
    expect_emfile(accept4(l, NULL, NULL, SOCK_NONBLOCK), "accept4 with nothing queued");

    /* What needs no new number still works: dup2 onto a number in use, and the sockets it has. */
    int spare = fill[--n];
    CHECK(dup2(c, spare) == spare, "dup2 onto a number in use");
    echo(spare, "dup2");
    CHECK(close(spare) == 0, "close");
    CHECK(dup(c) == spare, "dup into the freed number");
    printf("ok dup2 and dup at the limit\n");
    echo(c, "full");
    int b = fill[--n];
    struct sockaddr_in any = addr_of("0.0.0.0", 0);
    CHECK(bind(b, (struct sockaddr *)&any, sizeof any) == 0, "bind at the limit");
    CHECK(listen(b, 1) == 0, "listen at the limit");
    int k = fill[--n];
    struct sockaddr_in e = addr_of(ip, 9000);
    CHECK(connect(k, (struct sockaddr *)&e, sizeof e) == 0, "connect at the limit");
    echo(k, "connected at the limit");
    printf("ok bind, listen and connect at the limit\n");
    /* A call that fails at the limit leaves the socket as it was, still usable. */
    int u = fill[--n];
    CHECK(bind(u, (struct sockaddr *)&a, sizeof a) == -1 && errno == EADDRINUSE,
          "bind to the listener's port at the limit");
    CHECK(connect(u, (struct sockaddr *)&e, sizeof e) == 0, "connect after a failed bind at the limit");
    echo(u, "after a failed bind");
    printf("ok a failed bind at the limit leaves the socket usable\n");
    /* A non-blocking connect, and a UDP socket's first sendto, at the limit. */
    int nb = fill[--n];
    CHECK(fcntl(nb, F_SETFL, O_NONBLOCK) == 0, "O_NONBLOCK");
    CHECK(connect(nb, (struct sockaddr *)&e, sizeof e) == -1 && errno == EINPROGRESS,
          "a non-blocking connect at the limit");
    struct pollfd w = {nb, POLLOUT, 0};
    CHECK(poll(&w, 1, 5000) == 1 && (w.revents & POLLOUT), "the non-blocking connect completes");
    int soerr = -1;
    socklen_t sl = sizeof soerr;
    CHECK(getsockopt(nb, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0, "SO_ERROR %d", soerr);
    CHECK(fcntl(nb, F_SETFL, 0) == 0, "blocking again");
    echo(nb, "non-blocking at the limit");
    struct sockaddr_in nowhere = addr_of(ip, 9999);
    CHECK(sendto(d, "hello", 5, 0, (struct sockaddr *)&nowhere, sizeof nowhere) == 5,
          "a UDP socket's first sendto at the limit");
    printf("ok a non-blocking connect and a first sendto at the limit\n");
    expect_emfile(socket(AF_INET, SOCK_STREAM, 0), "socket, still full");

    /* A connection arrives while the table is full. */
    printf("FULL\n");
    struct pollfd p = {l, POLLIN, 0};
    CHECK(poll(&p, 1, 10000) == 1 && (p.revents & POLLIN), "the listener shows a connection");
    for (int i = 0; i < 3; i++) expect_emfile(accept(l, NULL, NULL), "accept with a connection queued");
    expect_emfile(accept4(l, NULL, NULL, SOCK_CLOEXEC), "accept4 with a connection queued");
    p.revents = 0;
    CHECK(poll(&p, 1, 0) == 1 && (p.revents & POLLIN), "the connection is still queued");

    /* One descriptor back: the connection is there, whole. */
    CHECK(close(fill[--n]) == 0, "close");
    int x = accept(l, NULL, NULL);
    CHECK(x >= 0, "accept after a close");
    struct timeval tv = {5, 0};
    CHECK(setsockopt(x, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO");
    char line[32];
    size_t got = 0;
    while (got < sizeof line - 1 && (got == 0 || line[got - 1] != '\n')) {
        ssize_t r = read(x, line + got, 1);
        CHECK(r == 1, "read the client's line");
        got++;
    }
    line[got] = 0;
    CHECK(strcmp(line, "ping\n") == 0, "the client's line is \"%s\"", line);
    CHECK(write(x, "pong\n", 5) == 5, "answer the client");
    printf("ok the connection waited in the queue: accepted after a close, its line intact\n");
    expect_emfile(socket(AF_INET, SOCK_STREAM, 0), "socket once the accept took the number");

    /* Carry on: half the table back, new connections work. */
    while (n > LIMIT / 2) {
        int s = fill[--n];
        if (s >= 0) CHECK(close(s) == 0, "close");
    }
    for (int i = 0; i < 8; i++) {
        int s = connect_echo();
        echo(s, "after");
        close(s);
    }
    echo(c, "still");
    close(x);
    printf("ok new connections after closing some\n");
    printf("PASS limits\n");
    return 0;
}
