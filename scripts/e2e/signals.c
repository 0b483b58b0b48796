/* Signals and the shim's waits, run under the preload by t_signals.sh.
 *
 * masks: ppoll, pselect, epoll_pwait and epoll_pwait2 over a stack socket, with a mask that
 * unblocks a signal already pending, must run its handler and fail with EINTR at once, as the
 * kernel's calls do (the mask is set atomically with the sleep); the program's own mask is back
 * afterwards; a NULL mask leaves the blocked signal pending and the wait times out.
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
#include <time.h>
#include <unistd.h>

#define CHECK(cond, ...)                                                        \
    do {                                                                        \
        if (!(cond)) {                                                          \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                \
            fprintf(stderr, __VA_ARGS__);                                       \
            fprintf(stderr, " (errno %d: %s)\n", errno, strerror(errno));       \
            exit(1);                                                            \
        }                                                                       \
    } while (0)

static volatile sig_atomic_t handled;
static void on_signal(int s) {
    (void)s;
    handled++;
}

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static struct sockaddr_in addr_of(const char *ip, int port) {
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons((unsigned short)port);
    inet_pton(AF_INET, ip, &a.sin_addr);
    return a;
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

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    CHECK(argc == 2, "usage: signals masks");
    if (strcmp(argv[1], "masks") == 0)
        masks();
    else
        CHECK(0, "unknown part %s", argv[1]);
    return 0;
}
