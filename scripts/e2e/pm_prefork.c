/* A prefork server, run under the preload by t_pm_forkserve.sh: the parent listens on ADDR:PORT, then
 * forks NCHILD children that each block in accept(2) on the inherited listener. Each child reads one
 * line from a client, waits 0.3 s (so that clients arriving together need several children), answers
 * "pid PID reply:LINE" and closes. The parent only waits for its children.
 * Usage: pm_prefork ADDR PORT NCHILD */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static void serve(int l) {
    for (;;) {
        int c = accept(l, NULL, NULL);
        CHECK(c >= 0, "child %d: accept", getpid());
        char line[256];
        size_t n = 0;
        while (n < sizeof line - 1) {
            ssize_t r = read(c, line + n, 1);
            CHECK(r >= 0, "child %d: read", getpid());
            if (r == 0 || line[n] == '\n') break;
            n += (size_t)r;
        }
        line[n] = 0;
        usleep(300000);
        char reply[400];
        int len = snprintf(reply, sizeof reply, "pid %d reply:%s\n", getpid(), line);
        /* A client that has gone (wait_port's probe) is no error. */
        if (write(c, reply, (size_t)len) != len) fprintf(stderr, "child %d: short write\n", getpid());
        CHECK(close(c) == 0, "child %d: close", getpid());
    }
}

int main(int argc, char **argv) {
    CHECK(argc == 4, "usage: pm_prefork ADDR PORT NCHILD");
    signal(SIGPIPE, SIG_IGN);
    int l = socket(AF_INET, SOCK_STREAM, 0);
    CHECK(l >= 0, "socket");
    int one = 1;
    CHECK(setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) == 0, "SO_REUSEADDR");
    struct sockaddr_in a = addr_of(argv[1], atoi(argv[2]));
    CHECK(bind(l, (struct sockaddr *)&a, sizeof a) == 0, "bind");
    CHECK(listen(l, 16) == 0, "listen");
    int n = atoi(argv[3]);
    for (int i = 0; i < n; i++) {
        pid_t p = fork();
        CHECK(p >= 0, "fork");
        if (p == 0) serve(l);
    }
    CHECK(close(l) == 0, "parent: close");
    while (wait(NULL) > 0) {
    }
    return 0;
}
