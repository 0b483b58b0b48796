/* A UDP socket's corked datagram (sends with MSG_MORE) met by fork and by a signal handler: run
 * under the preload by t_pm_cork.sh, against a kernel-side sink on port 7990.
 *
 * Linux keeps a corked datagram in the socket, under the socket's lock, which it never holds
 * across a wait. The shim keeps it in the process; it held it under a lock across the service's
 * requests and the final blocking send, so a child forked meanwhile inherited the lock held by a
 * thread it does not have, and its own send on the socket waited for ever; and a signal handler
 * sending on the socket while the interrupted thread held it (or the socket's attach lock, taken
 * by every send) waited for ever too.
 *
 * 1. One thread sends 30 000-byte halves with MSG_MORE and without, without pause; the main
 *    thread forks 40 children meanwhile, each of which sends a corked datagram of its own on the
 *    socket and exits (an alarm kills one that hangs). The child's datagram is its own: the
 *    parent's pending half stays the parent's to send (Linux keeps one pending datagram in the
 *    socket, which both processes share, and refuses a corked send racing another with EINVAL;
 *    the shim keeps it in the process, so a child drops the copy it inherits).
 * 2. The main thread sends corked datagrams while a 200 µs timer's handler sends its own on the
 *    same socket: a new one, made with the timer running, so that its first send (which takes it
 *    to the stack, holding its attach lock across a request) is among those interrupted. Each
 *    datagram the sink on port 7989 gets must be one the two could make: "ab" and "hi", or the
 *    handler's joined to the main thread's pending "a" ("ahi", then "b" alone), as on Linux.
 * Usage: pm_cork KERNEL_IP. Prints one line per part and "PASS cork". */
#define _GNU_SOURCE
#include <pthread.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static int s;
static struct sockaddr_in to;
static volatile sig_atomic_t handled;
static volatile int stop;
static char half[30000];

static ssize_t send_to(const void *p, size_t n, int flags) {
    return sendto(s, p, n, flags, (struct sockaddr *)&to, sizeof to);
}

static void *corker(void *arg) {
    (void)arg;
    while (!stop) {
        send_to(half, sizeof half, MSG_MORE);
        send_to(half, sizeof half, 0);
    }
    return NULL;
}

static void on_alarm(int sig) {
    (void)sig;
    send_to("h", 1, MSG_MORE);
    send_to("i", 1, 0);
    handled++;
}

int main(int argc, char **argv) {
    CHECK(argc == 2, "usage: pm_cork KERNEL_IP");
    to = addr_of(argv[1], 7990);
    s = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(s >= 0, "socket");
    CHECK(send_to("x", 1, 0) == 1, "first send");

    pthread_t t;
    CHECK(pthread_create(&t, NULL, corker, NULL) == 0, "pthread_create");
    for (int i = 0; i < 40; i++) {
        usleep(2000);
        pid_t pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid == 0) {
            alarm(5);
            /* Linux's udp_sendmsg refuses a corked send racing another's on the socket
             * ("socket already corked"), as the corking thread's may be here: EINVAL. */
            CHECK(send_to("c", 1, MSG_MORE) == 1 || errno == EINVAL, "a child's corked send");
            CHECK(send_to("d", 1, 0) == 1, "a child's send");
            _exit(0);
        }
        int status;
        CHECK(waitpid(pid, &status, 0) == pid, "waitpid");
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "child %d of 40 %s", i + 1, WIFSIGNALED(status) ? "hung in its send (alarm)" : "failed its send");
    }
    stop = 1;
    pthread_join(t, NULL);
    printf("fork: 40 children sent corked datagrams beside a thread's\n");

    to = addr_of(argv[1], 7989);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_RESTART;
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
    struct itimerval on = {{0, 200}, {0, 200}}, off = {{0, 0}, {0, 0}};
    CHECK(setitimer(ITIMER_REAL, &on, NULL) == 0, "setitimer");
    s = socket(AF_INET, SOCK_DGRAM, 0);
    CHECK(s >= 0, "socket");
    double t0 = now_s();
    long n = 0;
    for (; n < 50000 && now_s() - t0 < 10; n++) {
        CHECK(send_to("a", 1, MSG_MORE) == 1, "corked send");
        CHECK(send_to("b", 1, 0) == 1, "send");
    }
    setitimer(ITIMER_REAL, &off, NULL);
    CHECK(handled > 0, "no handler ran");
    printf("signal: %ld corked datagrams beside a handler's, which ran\n", n);
    printf("PASS cork\n");
    return 0;
}
