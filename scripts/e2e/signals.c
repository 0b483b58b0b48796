/* Signals and the shim's waits, run under the preload by t_signals.sh.
 *
 * masks: ppoll, pselect, epoll_pwait and epoll_pwait2 over a stack socket, with a mask that
 * unblocks a signal already pending, must run its handler and fail with EINTR at once, as the
 * kernel's calls do (the mask is set atomically with the sleep); the program's own mask is back
 * afterwards; a NULL mask leaves the blocked signal pending and the wait times out.
 *
 * restart: a blocking recv or accept on a stack socket is restarted after a handler installed with
 * SA_RESTART and fails with EINTR after one without, or when SO_RCVTIMEO is set; a send that has
 * sent a part returns it; poll and epoll_wait always fail with EINTR. Needs the kernel-side peer
 * of t_signals.sh.
 *
 * Prints one line per check and "PASS <part>" at the end; exits non-zero on the first failure. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

static volatile sig_atomic_t handled;
static void on_signal(int s) {
    (void)s;
    handled++;
}

static void handle(int sig, int flags) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sa.sa_flags = flags;
    CHECK(sigaction(sig, &sa, NULL) == 0, "sigaction");
}

/* A wait that must end at once with EINTR, its handler run once. */
static void expect_eintr_now(const char *name, int r, double t0) {
    double took = now_s() - t0;
    printf("%s: r=%d errno=%d handler=%d took=%.3fs\n", name, r, r < 0 ? errno : 0, (int)handled,
           took);
    CHECK(r == -1 && errno == EINTR, "%s: expected EINTR", name);
    CHECK(handled == 1, "%s: handler ran %d times", name, (int)handled);
    CHECK(took < 1.0, "%s: waited %.3fs", name, took);
}

static void masks(void) {
    handle(SIGUSR1, 0);
    sigset_t block, open_mask;
    sigemptyset(&block);
    sigaddset(&block, SIGUSR1);
    CHECK(sigprocmask(SIG_BLOCK, &block, &open_mask) == 0, "sigprocmask");
    sigdelset(&open_mask, SIGUSR1);

    /* A connected UDP socket on the stack that nothing sends to: never readable. */
    int u = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in a = addr_of("10.77.0.1", 9);
    CHECK(connect(u, (struct sockaddr *)&a, sizeof a) == 0, "connect udp");
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = u};
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, u, &ev) == 0, "epoll_ctl");
    struct timespec ts = {3, 0};
    struct pollfd p = {.fd = u, .events = POLLIN};
    struct epoll_event out[2];
    double t0;

    handled = 0;
    raise(SIGUSR1);
    t0 = now_s();
    expect_eintr_now("ppoll", ppoll(&p, 1, &ts, &open_mask), t0);

    handled = 0;
    raise(SIGUSR1);
    fd_set rs;
    FD_ZERO(&rs);
    FD_SET(u, &rs);
    t0 = now_s();
    expect_eintr_now("pselect", pselect(u + 1, &rs, NULL, NULL, &ts, &open_mask), t0);

    handled = 0;
    raise(SIGUSR1);
    t0 = now_s();
    expect_eintr_now("epoll_pwait", epoll_pwait(ep, out, 2, 3000, &open_mask), t0);

    handled = 0;
    raise(SIGUSR1);
    t0 = now_s();
    expect_eintr_now("epoll_pwait2", epoll_pwait2(ep, out, 2, &ts, &open_mask), t0);

    sigset_t cur;
    CHECK(sigprocmask(SIG_BLOCK, NULL, &cur) == 0, "sigprocmask");
    CHECK(sigismember(&cur, SIGUSR1) == 1, "the program's mask was not restored");

    /* A NULL mask keeps the program's: the signal stays pending, the wait times out. */
    handled = 0;
    raise(SIGUSR1);
    struct timespec short_ts = {0, 200 * 1000 * 1000};
    int r = ppoll(&p, 1, &short_ts, NULL);
    printf("ppoll NULL mask: r=%d handler=%d\n", r, (int)handled);
    CHECK(r == 0 && handled == 0, "ppoll with a NULL mask");
    /* Unblocking delivers it now. */
    CHECK(sigprocmask(SIG_UNBLOCK, &block, NULL) == 0, "sigprocmask");
    CHECK(handled == 1, "the pending signal was lost");
    close(ep);
    close(u);
    printf("PASS masks\n");
}

/* Arms SIGALRM to fire once in 300 ms. */
static void alarm_soon(void) {
    struct itimerval it = {{0, 0}, {0, 300 * 1000}};
    CHECK(setitimer(ITIMER_REAL, &it, NULL) == 0, "setitimer");
}

/* A TCP connection to the kernel-side peer, which answers each command byte after a second:
 * 'r' with "late" on this connection, 'a' by connecting to 10.77.0.2:9101; 's' reads nothing. */
static int peer(char command) {
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = addr_of("10.77.0.1", 9100);
    CHECK(connect(s, (struct sockaddr *)&a, sizeof a) == 0, "connect to the peer");
    CHECK(send(s, &command, 1, 0) == 1, "send command");
    return s;
}

/* recv on a stack socket while SIGALRM arrives; returns what recv returned. */
static ssize_t recv_through_alarm(int s, char *buf, double *took) {
    handled = 0;
    double t0 = now_s();
    alarm_soon();
    ssize_t n = recv(s, buf, 16, 0);
    *took = now_s() - t0;
    return n;
}

static void restart(void) {
    char buf[16];
    double took;
    ssize_t n;

    /* SA_RESTART: the handler runs, the recv goes on and gets the data a second later. */
    handle(SIGALRM, SA_RESTART);
    int s = peer('r');
    n = recv_through_alarm(s, buf, &took);
    printf("recv, SA_RESTART: n=%zd errno=%d handler=%d took=%.3fs\n", n, n < 0 ? errno : 0,
           (int)handled, took);
    CHECK(n == 4 && memcmp(buf, "late", 4) == 0, "recv with SA_RESTART was not restarted");
    CHECK(handled == 1 && took > 0.7, "recv with SA_RESTART: handler %d, %.3fs", (int)handled,
          took);
    close(s);

    /* Without SA_RESTART: EINTR at the signal. */
    handle(SIGALRM, 0);
    s = peer('r');
    n = recv_through_alarm(s, buf, &took);
    printf("recv, no SA_RESTART: n=%zd errno=%d handler=%d took=%.3fs\n", n, n < 0 ? errno : 0,
           (int)handled, took);
    CHECK(n == -1 && errno == EINTR && handled == 1 && took < 0.7, "recv without SA_RESTART");
    close(s);

    /* SA_RESTART with SO_RCVTIMEO set: EINTR all the same, as on Linux. */
    handle(SIGALRM, SA_RESTART);
    s = peer('r');
    struct timeval tv = {5, 0};
    CHECK(setsockopt(s, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0, "SO_RCVTIMEO");
    n = recv_through_alarm(s, buf, &took);
    printf("recv, SA_RESTART and SO_RCVTIMEO: n=%zd errno=%d handler=%d took=%.3fs\n", n,
           n < 0 ? errno : 0, (int)handled, took);
    CHECK(n == -1 && errno == EINTR && handled == 1 && took < 0.7,
          "recv with SA_RESTART and SO_RCVTIMEO");
    close(s);

    /* accept with SA_RESTART: restarted, gets the peer's connection a second later. */
    int l = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in la = addr_of("0.0.0.0", 9101);
    CHECK(bind(l, (struct sockaddr *)&la, sizeof la) == 0 && listen(l, 4) == 0, "listen");
    s = peer('a');
    handled = 0;
    double t0 = now_s();
    alarm_soon();
    int c = accept(l, NULL, NULL);
    took = now_s() - t0;
    printf("accept, SA_RESTART: fd=%d errno=%d handler=%d took=%.3fs\n", c, c < 0 ? errno : 0,
           (int)handled, took);
    CHECK(c >= 0 && handled == 1 && took > 0.7, "accept with SA_RESTART was not restarted");
    close(c);
    close(s);

    /* A blocking send that has queued part of its data when SA_RESTART's handler runs returns
     * that part, as on Linux (the peer reads nothing for now). */
    s = peer('s');
    static char big[8 << 20];
    handled = 0;
    t0 = now_s();
    alarm_soon();
    n = send(s, big, sizeof big, 0);
    took = now_s() - t0;
    printf("send, SA_RESTART, part sent: n=%zd errno=%d handler=%d took=%.3fs\n", n,
           n < 0 ? errno : 0, (int)handled, took);
    CHECK(n > 0 && n < (ssize_t)sizeof big && handled == 1 && took < 0.7,
          "send with SA_RESTART after a part");
    close(s);

    /* poll and epoll_wait never restart, SA_RESTART or not. */
    s = peer('r');
    struct pollfd p = {.fd = s, .events = POLLIN};
    handled = 0;
    t0 = now_s();
    alarm_soon();
    int r = poll(&p, 1, 5000);
    printf("poll, SA_RESTART: r=%d errno=%d handler=%d took=%.3fs\n", r, r < 0 ? errno : 0,
           (int)handled, now_s() - t0);
    CHECK(r == -1 && errno == EINTR && handled == 1, "poll with SA_RESTART");
    int ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN, .data.fd = s}, out[1];
    CHECK(epoll_ctl(ep, EPOLL_CTL_ADD, s, &ev) == 0, "epoll_ctl");
    handled = 0;
    t0 = now_s();
    alarm_soon();
    r = epoll_wait(ep, out, 1, 5000);
    printf("epoll_wait, SA_RESTART: r=%d errno=%d handler=%d took=%.3fs\n", r, r < 0 ? errno : 0,
           (int)handled, now_s() - t0);
    /* The peer's "late" may have come first on a slow machine; otherwise EINTR. */
    CHECK((r == -1 && errno == EINTR && handled == 1) || r == 1, "epoll_wait with SA_RESTART");
    close(ep);
    close(s);
    close(l);
    printf("PASS restart\n");
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    CHECK(argc == 2, "usage: signals masks|restart");
    if (strcmp(argv[1], "masks") == 0)
        masks();
    else if (strcmp(argv[1], "restart") == 0)
        restart();
    else
        CHECK(0, "unknown part %s", argv[1]);
    return 0;
}
