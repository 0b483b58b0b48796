/* The connection-rate client of smoltcp's comparator (examples/smoltcp_peer.rs, `http`), written
 * once against the socket API, so that one client program runs on the kernel's sockets and on
 * tapstack's (preloaded), beside smoltcp's own: COUNT requests `GET /small HTTP/1.0`, CONC at a
 * time, each on a new connection that the server closes after its answer (no keep-alive), from one
 * epoll loop on non-blocking sockets. Prints the connections per second as its last line.
 *
 *   connloop ADDR PORT COUNT CONC
 *
 * Exits 1 with a message on any failure: a connect or request that fails, a connection that closes
 * without an answer, or 120 s without finishing. A benchmark, not a test. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char request[] = "GET /small HTTP/1.0\r\nHost: 10.77.0.1\r\n\r\n";

struct conn {
    int fd;      /* -1: free */
    int sent;    /* the request went */
    long answer; /* bytes of answer so far */
};

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec / 1e9;
}

static void die(const char *what) {
    fprintf(stderr, "connloop: %s: %s\n", what, strerror(errno));
    exit(1);
}

static struct sockaddr_in to;

/* A new connection in slot `c`, its connect under way. */
static void start(int ep, struct conn *c, int slot) {
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) die("socket");
    if (connect(c->fd, (struct sockaddr *)&to, sizeof to) < 0 && errno != EINPROGRESS) die("connect");
    c->sent = 0;
    c->answer = 0;
    struct epoll_event ev = {.events = EPOLLOUT, .data.u32 = (unsigned)slot};
    if (epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev) < 0) die("epoll_ctl");
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: connloop ADDR PORT COUNT CONC\n");
        return 2;
    }
    to.sin_family = AF_INET;
    to.sin_port = htons((unsigned short)atoi(argv[2]));
    if (inet_pton(AF_INET, argv[1], &to.sin_addr) != 1) {
        fprintf(stderr, "connloop: bad address %s\n", argv[1]);
        return 2;
    }
    long count = atol(argv[3]);
    int conc = atoi(argv[4]);
    if (count < 1 || conc < 1 || conc > 1024) {
        fprintf(stderr, "connloop: COUNT >= 1, CONC from 1 to 1024\n");
        return 2;
    }
    struct conn *conns = calloc((size_t)conc, sizeof *conns);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!conns || ep < 0) die("setup");
    long started = 0, done = 0;
    double t0 = now();
    for (int i = 0; i < conc; i++) {
        conns[i].fd = -1;
        if (started < count) start(ep, &conns[i], i), started++;
    }
    struct epoll_event evs[64];
    char buf[4096];
    while (done < count) {
        if (now() - t0 > 120) {
            fprintf(stderr, "connloop: gave up after 120 s: %ld of %ld answered\n", done, count);
            return 1;
        }
        int n = epoll_wait(ep, evs, 64, 1000);
        if (n < 0 && errno != EINTR) die("epoll_wait");
        for (int k = 0; k < n; k++) {
            int slot = (int)evs[k].data.u32;
            struct conn *c = &conns[slot];
            if (c->fd < 0) continue;
            if (!c->sent) {
                int err = 0;
                socklen_t len = sizeof err;
                if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) die("getsockopt");
                if (err) {
                    errno = err;
                    die("connect");
                }
                if (send(c->fd, request, sizeof request - 1, MSG_NOSIGNAL) != (ssize_t)(sizeof request - 1))
                    die("send");
                c->sent = 1;
                struct epoll_event ev = {.events = EPOLLIN, .data.u32 = (unsigned)slot};
                if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) < 0) die("epoll_ctl");
                continue;
            }
            for (;;) {
                ssize_t r = recv(c->fd, buf, sizeof buf, 0);
                if (r > 0) {
                    c->answer += r;
                    continue;
                }
                if (r < 0 && (errno == EAGAIN || errno == EINTR)) break;
                if (r < 0) die("recv");
                /* End of file: the answer is whole. */
                if (c->answer == 0) {
                    fprintf(stderr, "connloop: a connection closed without an answer\n");
                    return 1;
                }
                close(c->fd);
                c->fd = -1;
                done++;
                if (started < count) start(ep, c, slot), started++;
                break;
            }
        }
    }
    printf("%.0f\n", count / (now() - t0));
    return 0;
}
